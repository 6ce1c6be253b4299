/**
 * channel-layers/browser: a WebSocket client for routes served by serve(),
 * with reconnecting (exponential backoff and jitter), a state callback,
 * resuming of group history after a reconnect (docs/recovery.md) and a
 * resync hook for when that cannot be done. Plain ES module, no dependencies.
 */

/** "open": connected; "reconnecting": waiting `delay` ms before the next try; "closed": close() was called, or the server refused for good. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** What came with a state change. */
export interface StateInfo {
  /** With "open": whether this is a reconnect. */
  reconnected?: boolean;
  /** With "reconnecting" and "closed": the close code of the socket that ended (1006: it dropped, or never opened). */
  code?: number;
  reason?: string;
  /** With "reconnecting": the how-many-th retry this is, and the milliseconds until it. */
  attempt?: number;
  delay?: number;
}

/** The part of a WebSocket constructor the client uses (the browser's, or `ws` in Node). */
export interface WebSocketConstructor {
  new (url: string, protocols?: string | string[]): {
    binaryType: string;
    send(data: string | Uint8Array): void;
    close(code?: number, reason?: string): void;
    onopen: ((event: unknown) => void) | null;
    onmessage: ((event: { data: unknown }) => void) | null;
    onerror: ((event: unknown) => void) | null;
    onclose: ((event: { code: number; reason: string }) => void) | null;
  };
}

export interface ConnectOptions {
  /** "json" (text frames, default) or "msgpack" (binary frames; give `codec`, e.g. from @msgpack/msgpack). */
  format?: "json" | "msgpack";
  codec?: { encode(content: unknown): Uint8Array; decode(bytes: Uint8Array): unknown };
  /** Subprotocols offered in the handshake. */
  protocols?: string | string[];
  /** First retry delay in ms (then doubling, capped at maxDelay, each with jitter). Default 250. */
  minDelay?: number;
  /** Longest retry delay in ms. Default 10000. */
  maxDelay?: number;
  /** Every decoded frame from the server (a resumed group's message without its position wrapper). */
  onMessage?(content: unknown): void;
  /** Every change of state. */
  onState?(state: ConnectionState, info: StateInfo): void;
  /**
   * The server resumed a group (consumer `groupResume`): on connect, after each reconnect, and
   * after the server's channel layer had a gap. With `recovered: true` every message missed
   * follows (through onMessage, in order, none twice); with false none does (`resync` is called
   * next unless `first`).
   */
  onResume?(event: ResumeEvent): void;
  /**
   * Ask the server for what was missed: called with `{ group }` when a group this page had a
   * position in could not be recovered, and with `{}` after a reconnect when the page holds no
   * position (the route resumes nothing: whatever was sent meanwhile is gone).
   */
  resync?(connection: Connection, info: { group?: string }): void;
  /** The WebSocket to use; default the global one. */
  WebSocket?: WebSocketConstructor;
}

/** What `onResume` is told. */
export interface ResumeEvent {
  group: string;
  /** Every message after the page's position is replayed next. False: none is; the app resyncs. */
  recovered: boolean;
  /** The page had no position in this group yet (a first join: nothing to recover). */
  first: boolean;
}

/** Where a page stands in a group's history: the position of the last message it got. */
export interface ResumePosition {
  epoch: string;
  offset: number;
}

export interface Connection {
  readonly state: ConnectionState;
  /** The last position of each resumed group (at most 32), sent with every handshake. */
  readonly positions: ReadonlyMap<string, ResumePosition>;
  /** Send `content` in the route's format; false (nothing sent) when not open. */
  send(content: unknown): boolean;
  /**
   * Send `content` and resolve with the server's answer (Socket.IO's `emitWithAck`): what the
   * consumer's `receiveJson` returned or passed to `ack()`. Rejects with an Error whose `code` is
   * ERR_NOT_CONNECTED (nothing sent), ERR_ACK_TIMEOUT (no answer within `timeout` ms, default 10000),
   * ERR_CONNECTION_CLOSED (the socket closed first), or the handler's error code when it threw.
   */
  sendWithAck(content: unknown, options?: { timeout?: number }): Promise<unknown>;
  /** Close for good: no more reconnecting. */
  close(): void;
}

/** Connect to `url`: ws:// or wss://, or a path on the page's own host ("/ws/chat/lobby"). */
export function connect(url: string, options?: ConnectOptions): Connection;

/** A presence change: the whole list arrived ("presence"), or one member joined or left. */
export interface PresenceChange {
  type: "presence" | "presence.join" | "presence.leave";
  channel?: string;
  info?: unknown;
}

/** Who is here, as `trackPresence` keeps it: member channel → the info it joined with. */
export interface PresenceTracker {
  readonly members: Map<string, unknown>;
  /** Feed every frame from the server; true when it was about presence (and was applied). */
  handle(content: unknown): boolean;
  /** Forget everyone (the connection dropped: a new list comes with the next welcome). */
  clear(): void;
}

/** Keep the members of a room from `presence`, `presence.join` and `presence.leave` frames (docs/presence.md). */
export function trackPresence(onChange?: (members: Map<string, unknown>, change: PresenceChange) => void): PresenceTracker;
