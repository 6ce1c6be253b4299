/**
 * channel-layers/browser: a WebSocket client for routes served by serve(),
 * with reconnecting (exponential backoff and jitter), a state callback and a
 * resync hook after every reconnect. Plain ES module, no dependencies.
 */

/** "open": connected; "reconnecting": waiting `delay` ms before the next try; "closed": close() was called, or the server refused for good. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** What came with a state change. */
export interface StateInfo {
  /** With "open": whether this is a reconnect (resync is called next). */
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
  /** Every decoded frame from the server. */
  onMessage?(content: unknown): void;
  /** Every change of state. */
  onState?(state: ConnectionState, info: StateInfo): void;
  /** Called after every reconnect, once open: ask the server for what was missed. */
  resync?(connection: Connection): void;
  /** The WebSocket to use; default the global one. */
  WebSocket?: WebSocketConstructor;
}

export interface Connection {
  readonly state: ConnectionState;
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
