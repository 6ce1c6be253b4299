/**
 * The same client API over two transports: the testing kit's in-memory
 * communicator, and a real `ws` client against `serve()` on a real port. A
 * scenario written once against `Peer` runs on both, and the tests compare
 * what each saw.
 */
import WebSocket from "ws";
import { InMemoryChannelLayer, type ConsumerErrorContext, type WebSocketApp } from "../../src/index.js";
import { WebSocketCommunicator, type CloseEvent, type CommunicatorOptions, type ConnectResult } from "../../src/testing/index.js";
import { Client, startServer } from "../consumer/helpers.js";
import { waitFor } from "../wait.js";

export type Peer = Pick<
  WebSocketCommunicator,
  "connect" | "sendText" | "sendBytes" | "sendJson" | "receiveText" | "receiveBytes" | "receiveJson" | "receiveNothing" | "disconnect" | "closed"
>;

export interface Run {
  /** A client of the app at `path`, not yet connected. */
  peer(path: string, options?: CommunicatorOptions): Peer;
  layer: InMemoryChannelLayer;
  errors: Array<{ error: unknown; context: ConsumerErrorContext }>;
  /** Wait until every consumer of the app has stopped. */
  settled(): Promise<void>;
}

export type Transport = (app: Omit<WebSocketApp, "layer" | "onError">) => Promise<Run>;

/** The communicator: no server, no port. */
export const memory: Transport = async (app) => {
  const layer = new InMemoryChannelLayer();
  const errors: Run["errors"] = [];
  const full: WebSocketApp = { ...app, layer, onError: (error, context) => errors.push({ error, context }) };
  return {
    layer,
    errors,
    peer: (path, options) => new WebSocketCommunicator(full, path, options),
    settled: () => waitFor("every consumer stopped", () => live.count === 0),
  };
};

/** Every consumer made and not yet stopped, counted by the test consumers themselves (see app.ts). */
export const live = { count: 0 };

/** `serve()` on a real http server on port 0, with a real `ws` client. */
export const network: Transport = async (app) => {
  const { base, layer, errors } = await startServer(app);
  return {
    layer,
    errors,
    peer: (path, options) => new WsPeer(`${base}${path}`, options),
    settled: () => waitFor("every consumer stopped", () => live.count === 0),
  };
};

class WsPeer implements Peer {
  private client: Client | undefined;
  constructor(
    private readonly url: string,
    private readonly options: CommunicatorOptions = {},
  ) {}

  async connect(): Promise<ConnectResult> {
    const { subprotocols, origin, headers } = this.options;
    this.client = new Client(this.url, subprotocols, { ...(origin ? { origin } : {}), ...(headers ? { headers: headers as Record<string, string> } : {}) });
    const c = this.client;
    return Promise.race([
      c.opened.then(() => (c.ws.protocol ? { accepted: true, subprotocol: c.ws.protocol } : { accepted: true })),
      c.refused.then((status) => ({ accepted: false, status })),
    ]);
  }

  private get c(): Client {
    if (!this.client) throw new Error("not connected");
    return this.client;
  }

  sendText(text: string): void {
    this.c.send(text);
  }
  sendBytes(bytes: Uint8Array): void {
    this.c.send(Buffer.from(bytes));
  }
  sendJson(value: unknown): void {
    this.c.send(JSON.stringify(value));
  }
  async receiveText(): Promise<string> {
    const f = await this.c.next();
    if (typeof f !== "string") throw new Error("binary frame");
    return f;
  }
  async receiveBytes(): Promise<Buffer> {
    const f = await this.c.next();
    if (typeof f === "string") throw new Error("text frame");
    return f;
  }
  async receiveJson<T>(): Promise<T> {
    return JSON.parse(await this.receiveText()) as T;
  }
  async receiveNothing(ms = 100): Promise<boolean> {
    const next = this.c.peek();
    return (await Promise.race([next.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), ms))])) as boolean;
  }
  async disconnect(code = 1000): Promise<void> {
    if (this.c.ws.readyState === WebSocket.OPEN) this.c.ws.close(code);
    await this.c.closed;
  }
  get closed(): Promise<CloseEvent> {
    return this.c.closed;
  }
}
