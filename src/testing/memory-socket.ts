/**
 * One WebSocket connection held in memory: the `Upgrade` a consumer accepts
 * or refuses, and the server-side socket it then runs over. It keeps the
 * rules `ws` keeps on a real socket (close codes a peer may send, frames
 * over `maxPayload` closed with 1009, events in order and never re-entrant),
 * so a consumer cannot tell it from a network connection.
 */
import type { Upgrade, WebSocketLike } from "../consumer/websocket.js";
import { Inbox } from "./inbox.js";

export interface ConnectResult {
  /** Whether the consumer accepted the connection. */
  accepted: boolean;
  /** The subprotocol the consumer chose, when it chose one. */
  subprotocol?: string;
  /** The HTTP status of a refusal (403, 404, …); absent when the connection was dropped without an answer. */
  status?: number;
}

export interface CloseEvent {
  code: number;
  reason: string;
}

type State = "handshake" | "open" | "closing" | "closed";

/** The codes a close frame may carry (RFC 6455 §7.4), as `ws` checks them. */
export function isValidCloseCode(code: number): boolean {
  return (Number.isInteger(code) && code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

function checkClose(code: number, reason: string): void {
  if (!isValidCloseCode(code)) throw new TypeError(`close code ${code} is not one a close frame may carry (1000-1014 but 1004-1006, or 3000-4999)`);
  if (Buffer.byteLength(reason) > 123) throw new RangeError("a close reason must not be longer than 123 bytes");
}

export class MemoryConnection {
  /** What the server sent, for the test to take. */
  readonly inbox = new Inbox();
  readonly outcome: Promise<ConnectResult>;
  readonly closed: Promise<CloseEvent>;
  state: State = "handshake";
  private settle!: (result: ConnectResult) => void;
  private markClosed!: (event: CloseEvent) => void;
  private readonly drops = new Set<() => void>();
  private readonly listeners = {
    message: [] as Array<(data: Buffer, isBinary: boolean) => void>,
    close: [] as Array<(code: number) => void>,
    error: [] as Array<(error: Error) => void>,
  };
  /** Client events (frames, the close) not yet given to the server, held while it is paused. */
  private readonly incoming: Array<() => void> = [];
  private paused = false;
  private draining = false;

  constructor(private readonly maxPayload: number) {
    this.outcome = new Promise((resolve) => (this.settle = resolve));
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
  }

  // ---- the server's side: the handshake -------------------------------------

  readonly upgrade: Upgrade = {
    accept: (subprotocol, attach) => {
      if (this.state !== "handshake") return; // the client left while connect() ran
      this.state = "open";
      attach(this.socket);
      this.settle(subprotocol === undefined ? { accepted: true } : { accepted: true, subprotocol });
    },
    refuse: (status) => this.drop({ accepted: false, status }),
    destroy: () => (this.state === "handshake" ? this.drop({ accepted: false }) : this.end(1006, "", 1006)),
    onDrop: (listener) => {
      this.drops.add(listener);
      return () => this.drops.delete(listener);
    },
  };

  /** The handshake ends without a WebSocket: the consumer's transport closes, as a socket's would. */
  private drop(result: ConnectResult): void {
    if (this.state !== "handshake") return;
    this.state = "closed";
    this.settle(result);
    this.inbox.end("the connection was refused");
    this.markClosed({ code: 1006, reason: "" });
    queueMicrotask(() => {
      for (const listener of [...this.drops]) listener();
    });
  }

  // ---- the server's side: the open socket -----------------------------------

  private readonly socket: WebSocketLike = this.serverSocket();

  private serverSocket(): WebSocketLike {
    // The socket object has getters of its own, so `this` inside them is the socket, not the connection.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const connection = this;
    return {
      get bufferedAmount(): number {
        return connection.inbox.bytes;
      },
      get isPaused(): boolean {
        return connection.paused;
      },
      send: (data) => {
        if (this.state !== "open") return; // as ws: nobody is left to read it
        this.inbox.push(typeof data === "string" ? data : Buffer.from(data));
      },
      close: (code, reason) => {
        checkClose(code, reason);
        if (this.state !== "open") return;
        this.state = "closing";
        // The client answers the close frame with the same code; the server then sees it.
        this.end(code, reason, code);
      },
      terminate: () => this.end(1006, "", 1006),
      pause: () => {
        this.paused = true;
      },
      resume: () => {
        this.paused = false;
        this.schedule();
      },
      on: ((event: "message" | "close" | "error", listener: never) => {
        (this.listeners[event] as unknown[]).push(listener);
      }),
    };
  }

  /** Both sides are done: the client sees `clientCode`, the server's close event `serverCode`. */
  private end(clientCode: number, reason: string, serverCode: number): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.incoming.length = 0;
    this.inbox.end(`the connection closed (code ${clientCode}${reason ? `, "${reason}"` : ""})`);
    this.markClosed({ code: clientCode, reason });
    queueMicrotask(() => {
      for (const listener of this.listeners.close) listener(serverCode);
    });
  }

  // ---- the client's side ------------------------------------------------------

  /** A frame from the client, given to the server in order once it is not paused. */
  sendFrame(data: Buffer, isBinary: boolean): void {
    this.queue(() => {
      if (data.length > this.maxPayload) {
        // As ws: an error event, a 1009 close frame, and no answer read back.
        const error = Object.assign(new RangeError("Max payload size exceeded"), { code: "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" });
        for (const listener of this.listeners.error) listener(error);
        this.end(1009, "", 1006);
        return;
      }
      for (const listener of this.listeners.message) listener(data, isBinary);
    });
  }

  /** The client closes: the server sees `code` once it has read the frames sent before. */
  clientClose(code: number, reason: string): void {
    checkClose(code, reason);
    if (this.state === "handshake") {
      this.drop({ accepted: false });
      return;
    }
    if (this.state !== "open") return;
    this.state = "closing";
    this.queue(() => this.end(code, reason, code));
  }

  private queue(event: () => void): void {
    this.incoming.push(event);
    this.schedule();
  }

  /** Events reach the server after the caller returns, as a socket's data would: never inside it. */
  private schedule(): void {
    if (!this.draining) {
      this.draining = true;
      queueMicrotask(() => {
        this.draining = false;
        this.drain();
      });
    }
  }

  private drain(): void {
    while (!this.paused && this.incoming.length > 0 && this.state !== "closed") this.incoming.shift()!();
  }
}
