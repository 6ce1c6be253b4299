/**
 * WebSocketCommunicator: talk to a `serve()` app as a client would, with no
 * server, port or socket. The connection goes through the same handshake
 * function as `serve()` (routing, origin and auth rules, refusals), and the
 * consumer runs over an in-memory socket that keeps the rules of a real one.
 */
import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import type { MessageValue } from "../layer.js";
import { connectionHandler, type ConnectionHandler, type WebSocketApp } from "../consumer/serve.js";
import { defaultErrorHook, type ConsumerErrorHook } from "../consumer/consumer.js";
import { WebSocketConsumer } from "../consumer/websocket.js";
import type { Frame } from "./inbox.js";
import { MemoryConnection, type CloseEvent, type ConnectResult } from "./memory-socket.js";

export type { CloseEvent, ConnectResult } from "./memory-socket.js";

export interface CommunicatorOptions {
  /** Request headers, as a client would send them (names are case-insensitive). */
  headers?: Record<string, string | string[]>;
  /** The subprotocols the client offers (the Sec-WebSocket-Protocol header). */
  subprotocols?: string[];
  /** The page origin a browser would send (the Origin header). */
  origin?: string;
  /**
   * What an error of the consumer does (a handler that threw, a message with no handler):
   * "raise" (default, as Channels' communicator raises the application's exception) rejects
   * the next `receive…()`, `receiveNothing()`, `connect()` or `disconnect()` with it, also one
   * already waiting; "report" passes it to the app's `onError` (default: logged) and raises
   * nothing, for tests that expect errors. Either way it is kept in `errors`.
   */
  consumerErrors?: "raise" | "report";
}

export interface TimeoutOption {
  /** Milliseconds to wait. Default 1000. */
  timeout?: number;
}

const DEFAULT_TIMEOUT = 1000;

/** One handler per app object, so connections of one app share what `serve()` shares (route throttles, the connection count). */
const handlers = new WeakMap<WebSocketApp, ConnectionHandler>();

/** The communicator each upgrade request came from, told of its consumer's errors: whether it raises them. */
const owners = new WeakMap<IncomingMessage, (error: unknown) => boolean>();

function handlerFor(app: WebSocketApp): ConnectionHandler {
  let handler = handlers.get(app);
  if (handler === undefined) {
    const onError: ConsumerErrorHook = (error, context) => {
      const request = context.consumer instanceof WebSocketConsumer ? context.consumer.scope.request : undefined;
      const raised = request !== undefined && owners.get(request)?.(error) === true;
      // The app's own hook hears every error; the default one (a log line) only what is not raised in the test.
      if (app.onError) app.onError(error, context);
      else if (!raised) defaultErrorHook(error, context);
    };
    handler = connectionHandler({ ...app, onError });
    handlers.set(app, handler);
  }
  return handler;
}

export class WebSocketCommunicator {
  /** Every error the consumer met, in order, raised or not. */
  readonly errors: unknown[] = [];
  private readonly handler: ConnectionHandler;
  private connection: MemoryConnection | undefined;
  private consumer: Promise<WebSocketConsumer | void> | undefined;
  /** Errors to raise, oldest first: each rejects one call. */
  private readonly unraised: unknown[] = [];
  private nextAck = 1;

  /** `app` is what `serve()` takes, without `server`; communicators given the same object share its route throttles. */
  constructor(
    app: WebSocketApp,
    readonly path: string,
    private readonly options: CommunicatorOptions = {},
  ) {
    if (!path.startsWith("/")) throw new TypeError(`a communicator's path must start with "/", got ${JSON.stringify(path)}`);
    this.handler = handlerFor(app);
  }

  /** Open the connection: the consumer's `connect()` accepts it or refuses it. */
  async connect({ timeout = DEFAULT_TIMEOUT }: TimeoutOption = {}): Promise<ConnectResult> {
    if (this.connection) throw new Error(`connect() was already called on this communicator for ${this.path}`);
    const connection = new MemoryConnection(this.handler.maxPayload);
    this.connection = connection;
    const request = this.request();
    owners.set(request, (error) => this.failed(error));
    this.consumer = this.handler.handle(request, connection.upgrade);
    const result = await deadline(connection.outcome, timeout);
    this.raise();
    if (result === undefined) {
      connection.clientClose(1000, "");
      throw new Error(`connect() to ${this.path}: the consumer neither accepted nor refused within ${timeout} ms`);
    }
    return result;
  }

  sendText(text: string): void {
    this.open("sendText()").sendFrame(Buffer.from(text, "utf8"), false);
  }

  sendBytes(bytes: Uint8Array): void {
    this.open("sendBytes()").sendFrame(Buffer.from(bytes), true);
  }

  sendJson(value: MessageValue): void {
    this.sendText(JSON.stringify(value));
  }

  /**
   * Send `content` asking for an acknowledgement (the browser client's `sendWithAck`), and resolve
   * with the consumer's answer: what its `receiveJson` returned or passed to `ack()` (null for nothing).
   * Frames sent meanwhile stay in line for the `receive…()` calls. A handler that threw rejects it
   * with its error (raised, see `consumerErrors`; reported: an Error carrying the answer's `code`).
   * JSON routes only.
   */
  async sendJsonWithAck<T = unknown>(content: MessageValue, { timeout = DEFAULT_TIMEOUT }: TimeoutOption = {}): Promise<T> {
    const id = this.nextAck++;
    this.sendText(JSON.stringify({ $ack: id, $content: content }));
    const isAnswer = (frame: Frame): boolean => typeof frame === "string" && frame.startsWith('{"$ack":') && (JSON.parse(frame) as { $ack?: unknown }).$ack === id;
    let frame: Frame;
    this.raise();
    try {
      frame = await this.opened("sendJsonWithAck()").inbox.takeMatching(isAnswer, `sendJsonWithAck() on ${this.path}`, timeout);
    } catch (err) {
      this.raise();
      throw err;
    }
    const answer = JSON.parse(frame as string) as { $reply?: T; $error?: string };
    if (answer.$error !== undefined) {
      // The error itself reaches the consumer's hook a moment after its answer left: raise it, not a copy.
      if (this.options.consumerErrors !== "report") await new Promise((resolve) => setImmediate(resolve));
      this.raise();
      throw Object.assign(new Error(`sendJsonWithAck() on ${this.path}: the consumer's handler failed (${answer.$error})`), { code: answer.$error });
    }
    return answer.$reply as T;
  }

  /** The next frame, which must be a text frame. */
  async receiveText({ timeout = DEFAULT_TIMEOUT }: TimeoutOption = {}): Promise<string> {
    const frame = await this.take("receiveText()", timeout);
    if (typeof frame !== "string") throw new Error(`receiveText() on ${this.path}: the next frame is binary (${frame.length} bytes), not text`);
    return frame;
  }

  /** The next frame, which must be a binary frame. */
  async receiveBytes({ timeout = DEFAULT_TIMEOUT }: TimeoutOption = {}): Promise<Buffer> {
    const frame = await this.take("receiveBytes()", timeout);
    if (typeof frame === "string") throw new Error(`receiveBytes() on ${this.path}: the next frame is text (${JSON.stringify(frame.slice(0, 80))}), not binary`);
    return frame;
  }

  /** The next frame, which must be a text frame holding JSON. */
  async receiveJson<T = unknown>({ timeout = DEFAULT_TIMEOUT }: TimeoutOption = {}): Promise<T> {
    const frame = await this.take("receiveJson()", timeout);
    if (typeof frame !== "string") {
      throw new Error(`receiveJson() on ${this.path}: the next frame is binary (${frame.length} bytes); JSON comes in text frames (a msgpack route sends binary: use receiveBytes())`);
    }
    try {
      return JSON.parse(frame) as T;
    } catch {
      throw new Error(`receiveJson() on ${this.path}: the next frame is not JSON: ${JSON.stringify(frame.slice(0, 80))}`);
    }
  }

  /** Whether no frame arrives within `timeoutMs`; a frame that does stays to be received. */
  async receiveNothing(timeoutMs = 100): Promise<boolean> {
    this.raise();
    const nothing = await this.opened("receiveNothing()").inbox.nothingWithin(timeoutMs);
    this.raise();
    return nothing;
  }

  /** How the connection closed: by the server, by `disconnect()`, or 1006 when it dropped. */
  get closed(): Promise<CloseEvent> {
    return this.opened("closed").closed;
  }

  /**
   * Close from the client's side with `code`; resolves once the consumer has
   * run `disconnect()` and left its groups.
   */
  async disconnect(code = 1000, { timeout = DEFAULT_TIMEOUT }: TimeoutOption = {}): Promise<void> {
    const connection = this.opened("disconnect()");
    connection.clientClose(code, "");
    const consumer = await this.consumer;
    if (!consumer) return;
    const stopped = await deadline(consumer.done.then(() => true), timeout);
    this.raise();
    if (stopped === undefined) throw new Error(`disconnect() on ${this.path}: the consumer did not stop within ${timeout} ms (a handler that never returns?)`);
  }

  /** A consumer error: kept, and raised by the next call unless errors are only reported. */
  private failed(error: unknown): boolean {
    this.errors.push(error);
    if (this.options.consumerErrors === "report") return false;
    this.unraised.push(error);
    this.connection?.inbox.interrupt();
    return true;
  }

  /** Throw the oldest consumer error not raised yet, if any. */
  private raise(): void {
    if (this.unraised.length > 0) throw this.unraised.shift();
  }

  /** The next frame; a consumer error before or while it waits rejects it instead. */
  private async take(what: string, timeout: number): Promise<Frame> {
    this.raise();
    try {
      return await this.opened(what).inbox.take(`${what} on ${this.path}`, timeout);
    } catch (err) {
      this.raise();
      throw err;
    }
  }

  private opened(what: string): MemoryConnection {
    if (!this.connection) throw new Error(`${what} on ${this.path} before connect()`);
    return this.connection;
  }

  private open(what: string): MemoryConnection {
    const connection = this.opened(what);
    if (connection.state !== "open") {
      throw new Error(`${what} on ${this.path}: the connection is ${connection.state === "handshake" ? "not accepted yet" : "closed"}`);
    }
    return connection;
  }

  /** The upgrade request a client would send, as `serve()` receives it. */
  private request(): IncomingMessage {
    const request = withLazySocket(new IncomingMessage(undefined as unknown as Socket));
    request.method = "GET";
    request.url = this.path;
    request.httpVersion = "1.1";
    const headers: Record<string, string | string[]> = {
      host: "localhost",
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    };
    const { subprotocols, origin } = this.options;
    if (subprotocols && subprotocols.length > 0) headers["sec-websocket-protocol"] = subprotocols.join(", ");
    if (origin !== undefined) headers.origin = origin;
    for (const [name, value] of Object.entries(this.options.headers ?? {})) headers[name.toLowerCase()] = value;
    request.headers = headers;
    request.rawHeaders = Object.entries(headers).flatMap(([name, value]) => (Array.isArray(value) ? value.flatMap((v) => [name, v]) : [name, value]));
    return request;
  }
}

/**
 * A request's `socket` (and `client`, its old name) made on first use: few consumers read it, and a
 * `net.Socket` per connection was a good part of what a communicator test allocated. A Socket's
 * readable high-water mark is the stream default, so the request is built as it would be with one.
 */
function withLazySocket(request: IncomingMessage): IncomingMessage {
  let socket: Socket | undefined;
  const property: PropertyDescriptor = {
    configurable: true,
    enumerable: true,
    get: () => (socket ??= new Socket()),
    set: (value: Socket) => (socket = value),
  };
  Object.defineProperty(request, "socket", property);
  Object.defineProperty(request, "client", property);
  return request;
}

/** `promise`'s value, or `undefined` once `ms` have passed (one promise and one timer: this runs on every connect and disconnect). */
function deadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
