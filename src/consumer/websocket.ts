/**
 * WebSocketConsumer: one consumer per WebSocket connection, on `ws`. Socket
 * events reach it as messages through the same `dispatch()` as layer
 * messages ("websocket.connect" → `websocket_connect` → `connect()`), so a
 * subclass sees every event in one place and all of them are handled in order.
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Message } from "../layer.js";
import { CloseCode } from "./close-codes.js";
import { Consumer, reserveMethods, type ConsumerInit } from "./consumer.js";
import { frameCodec, type FrameCodec, type FrameFormat } from "./frames.js";
import { InvalidMessageTypeError } from "./handler-name.js";
import { frameWriter, sharedFrame } from "./shared-frames.js";
import type { OverLimit } from "./throttle.js";

export interface WebSocketScope {
  /** The request path, without the query string. */
  path: string;
  /** Parameters of the matched route ("/ws/chat/:room" → `{ room }`). */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The subprotocols the client offered. */
  subprotocols: string[];
  request: IncomingMessage;
  /** What the route's `authenticate` hook returned for this handshake; undefined without one. */
  user?: unknown;
}

/**
 * The open socket as a consumer uses it: a `ws` WebSocket under `serve()`,
 * an in-memory one under the testing kit's communicator.
 */
export interface WebSocketLike {
  /** Bytes sent but not yet taken by the client. */
  readonly bufferedAmount: number;
  readonly isPaused: boolean;
  send(data: string | Uint8Array): void;
  close(code: number, reason: string): void;
  terminate(): void;
  /** Stop taking client frames until `resume()`: backpressure on a client that outruns its handlers. */
  pause(): void;
  resume(): void;
  /** A frame arrives as one Buffer, with whether it was binary. */
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): unknown;
  on(event: "close", listener: (code: number) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/**
 * The handshake the connection starts as; `accept()` completes it. `serve()`
 * makes one from an HTTP upgrade request, the testing kit one in memory.
 */
export interface Upgrade {
  /** Complete the handshake, answering with `subprotocol` when given; `attach` gets the open socket. */
  accept(subprotocol: string | undefined, attach: (socket: WebSocketLike) => void): void;
  /** Answer with an HTTP error instead and drop the connection. */
  refuse(status: number, text: string): void;
  /** Drop the connection at once, without an answer. */
  destroy(): void;
  /** Call `listener` once if the connection drops before `attach`; returns a function that stops listening. */
  onDrop(listener: () => void): () => void;
}

export interface WebSocketInit extends ConsumerInit {
  scope: WebSocketScope;
  upgrade: Upgrade;
  /** How structured content travels: "json" text frames (default) or "msgpack" binary frames. */
  frames?: FrameFormat;
  /** Unsent bytes a client may leave queued before it is closed with `CloseCode.slowClient`. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** The throttle's admit function for this connection; absent means no throttle. */
  admit?: () => boolean;
  onLimit?: OverLimit;
  /** Where one-line reports of what the client did wrong go. Default console.warn. */
  log?: (line: string) => void;
}

/**
 * Queued client frames, or bytes of them, past which the socket stops reading
 * until the consumer catches up (to half of each): a client cannot park 64
 * frames of maxPayload each in our memory behind a slow handler.
 */
const PAUSE_AT = 64;
const PAUSE_AT_BYTES = 1024 * 1024;

type State = "connecting" | "open" | "closing" | "closed";

/**
 * A replay waits while more than half of `maxBufferedBytes` is unsent, until
 * a quarter is left, checking every REPLAY_POLL_MS (any socket: `ws` and the
 * testing kit's), for at most REPLAY_WAIT_MS: a client that takes nothing for
 * that long is slow, and the next send closes it as one.
 */
const REPLAY_POLL_MS = 1;
const REPLAY_WAIT_MS = 10_000;

export class WebSocketConsumer extends Consumer {
  readonly scope: WebSocketScope;
  protected readonly codec: FrameCodec;
  private readonly upgrade: Upgrade;
  private readonly maxBufferedBytes: number;
  readonly #admit: (() => boolean) | undefined;
  private readonly onLimit: OverLimit;
  readonly #log: (line: string) => void;
  private ws: WebSocketLike | undefined;
  /** Writes a prebuilt frame to `ws`, when it is a `ws` socket that can take one. */
  #writeFrame: ((list: [Buffer]) => boolean) | undefined = undefined;
  #stopWatchingDrop: (() => void) | undefined = undefined;
  private state: State = "connecting";
  private queuedFrames = 0;
  private queuedBytes = 0;
  private disconnected = false;

  constructor(init: WebSocketInit) {
    super(init);
    this.scope = init.scope;
    this.upgrade = init.upgrade;
    this.codec = frameCodec(init.frames);
    this.maxBufferedBytes = init.maxBufferedBytes ?? 1024 * 1024;
    this.#admit = init.admit;
    this.onLimit = init.onLimit ?? "error";
    this.#log = init.log ?? ((line) => console.warn(`[channel-layers] ${line}`));
  }

  // ---- what a subclass overrides ------------------------------------------

  /** A client asks to connect. Call `accept()` (the default) or `close()`; neither means refused. */
  connect(): void | Promise<void> {
    this.accept();
  }

  /** A frame from the client: a string for a text frame, a Buffer for a binary one. */
  receive(_data: string | Buffer): void | Promise<void> {}

  /** The connection ended, with the close code (1006 when it dropped without one). Groups are left after this. */
  disconnect(_code: number): void | Promise<void> {}

  // ---- what a subclass calls ---------------------------------------------

  /** Complete the handshake, optionally choosing one of the client's subprotocols. */
  accept(subprotocol?: string): void {
    if (this.state === "closed" && this.ws === undefined) return; // the client left while connect() ran: nothing to accept
    if (this.state !== "connecting") throw new Error(`accept() on a WebSocket that is already ${this.state}`);
    if (subprotocol !== undefined && !this.scope.subprotocols.includes(subprotocol)) {
      throw new Error(`accept("${subprotocol}"): the client offered only ${JSON.stringify(this.scope.subprotocols)}`);
    }
    this.state = "open";
    // On a bad handshake ws answers 400 and never calls back; the dropped connection then ends us.
    this.upgrade.accept(subprotocol, (ws) => this.attach(ws));
  }

  /** Send a text (string) or binary frame. Dropped once the socket is closing: nobody is left to read it. */
  send(data: string | Uint8Array): void {
    if (this.state === "connecting") throw new Error("send() before accept(): the handshake is not complete");
    const ws = this.ws;
    if (this.state !== "open" || ws === undefined) return;
    // A client that keeps up has nothing buffered here (the kernel took it), so one message of any size
    // always goes; memory is bounded by the limit plus one message.
    if (ws.bufferedAmount > this.maxBufferedBytes) {
      this.close(CloseCode.slowClient, "slow client: too much unsent data");
      return;
    }
    // Equal payloads in a row (a group send forwarded unchanged) share one frame.
    if (this.#writeFrame === undefined || !this.#writeFrame(sharedFrame(data))) ws.send(data);
  }

  /** A resume's replay goes on once the client took most of what was sent (docs/recovery.md, "Consumers and the browser"). */
  protected override replayPaced(): void | Promise<void> {
    if (this.state !== "open" || this.ws === undefined || this.ws.bufferedAmount <= this.maxBufferedBytes / 2) return;
    const ws = this.ws;
    const until = Date.now() + REPLAY_WAIT_MS;
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.state !== "open" || ws.bufferedAmount <= this.maxBufferedBytes / 4 || Date.now() >= until) resolve();
        else setTimeout(check, REPLAY_POLL_MS);
      };
      setTimeout(check, REPLAY_POLL_MS);
    });
  }

  /** Close the connection; before `accept()` this refuses the handshake with HTTP 403. */
  close(code: number = CloseCode.normal, reason = ""): void {
    if (this.state === "connecting") {
      this.state = "closed";
      this.upgrade.refuse(403, "Forbidden");
    } else if (this.state === "open") {
      this.state = "closing";
      this.ws?.close(code, reason);
    }
  }

  /** Drop the connection at once, without a closing handshake. */
  terminate(): void {
    if (this.ws) this.ws.terminate();
    else this.upgrade.destroy();
    this.state = "closed";
  }

  /** One line about what the client did wrong, where `serve()`'s `log` goes. */
  protected warn(line: string): void {
    this.#log(`WebSocket ${this.scope.path}: ${line}`);
  }

  /** Tell the client something went wrong with what it sent, in the route's frame format. */
  sendError(code: string, message: string): void {
    this.send(this.codec.encode({ type: "error", code, message }));
  }

  // ---- socket events, dispatched like any message ----------------------------

  async websocket_connect(_message: Message): Promise<void> {
    try {
      await this.connect();
    } finally {
      if (this.state === "connecting") {
        this.state = "closed";
        this.upgrade.refuse(403, "Forbidden");
      }
    }
  }

  async websocket_receive(message: Message): Promise<void> {
    await this.receive((message.text ?? message.bytes) as string | Buffer);
  }

  async websocket_disconnect(message: Message): Promise<void> {
    try {
      await this.disconnect(message.code as number);
    } finally {
      await this.stop();
    }
  }

  /** Socket events are this class's own: a layer message may not pose as one. */
  protected override checkLayerMessage(message: Message): void {
    if (message.type.startsWith("websocket.")) {
      throw new InvalidMessageTypeError(
        `message type "${message.type}" came through the channel layer, but "websocket.*" types are the socket's own events`,
      );
    }
  }

  /** The socket's close event then runs `disconnect()` and stops the consumer. */
  protected override closeAfterError(): Promise<void> {
    this.close(CloseCode.internalError, "internal error");
    return Promise.resolve();
  }

  /** Run the connection: called by `serve()` once per upgrade request. */
  async open(): Promise<void> {
    this.#stopWatchingDrop = this.upgrade.onDrop(this.#onRawClose);
    await this.start();
    if (this.disconnected) return;
    void this.enqueue({ type: "websocket.connect" });
  }

  readonly #onRawClose = (): void => {
    this.state = "closed";
    this.onEnd(1006);
  };

  private onEnd(code: number): void {
    if (this.disconnected) return;
    this.disconnected = true;
    // Before start() finished there is no channel yet: just make sure it stops.
    if (this.channelName === "") void this.stop();
    else void this.enqueue({ type: "websocket.disconnect", code });
  }

  private attach(ws: WebSocketLike): void {
    this.#stopWatchingDrop?.();
    this.ws = ws;
    this.#writeFrame = frameWriter(ws);
    ws.on("message", (data: Buffer, isBinary: boolean) => this.onFrame(ws, data, isBinary));
    ws.on("close", (code: number) => {
      this.state = "closed";
      this.onEnd(code);
    });
    ws.on("error", (err: Error & { code?: string }) => {
      // ws's own codes (WS_ERR_*) name what the client sent wrong (oversized or bad frames): a line, not a stack.
      if (err.code?.startsWith("WS_ERR_")) this.#log(`WebSocket ${this.scope.path} closed: the client ${clientFault(err)}`);
      else this.report(err);
    });
  }

  private onFrame(ws: WebSocketLike, data: Buffer, isBinary: boolean): void {
    if (this.state !== "open") return;
    if (this.#admit && !this.#admit()) {
      if (this.onLimit === "close") {
        this.#log(`WebSocket ${this.scope.path} closed: the client sent too many messages (throttled)`);
        this.close(CloseCode.throttled, "throttled: too many messages");
      } else this.sendError("ERR_THROTTLED", "too many messages: this one was dropped; slow down");
      return;
    }
    const event: Message = isBinary ? { type: "websocket.receive", bytes: data } : { type: "websocket.receive", text: data.toString("utf8") };
    // Backpressure: a client that sends faster than its handlers run waits in its TCP window, not in our memory.
    const bytes = data.length;
    this.queuedBytes += bytes;
    if ((++this.queuedFrames >= PAUSE_AT || this.queuedBytes >= PAUSE_AT_BYTES) && !ws.isPaused) ws.pause();
    void this.enqueue(event).then(() => {
      this.queuedBytes -= bytes;
      if (--this.queuedFrames <= PAUSE_AT / 2 && this.queuedBytes <= PAUSE_AT_BYTES / 2 && ws.isPaused) ws.resume();
    });
  }
}

/** ws's error message, as what the client did: "sent a frame over the size limit (WS_ERR_…)". */
function clientFault(err: Error & { code?: string }): string {
  const what = err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" ? "sent a frame over the size limit" : `sent a bad frame: ${err.message}`;
  return `${what} (${err.code})`;
}

reserveMethods(WebSocketConsumer.prototype, ["websocket_connect", "websocket_receive", "websocket_disconnect"]);
