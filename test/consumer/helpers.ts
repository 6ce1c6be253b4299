/** Real servers and real `ws` clients for the WebSocket tests; everything made here is closed by `cleanup()`. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import WebSocket from "ws";
import { InMemoryChannelLayer, serve, type ConsumerErrorContext, type ServeOptions, type WebSocketService } from "../../src/index.js";

export interface TestServer {
  base: string;
  layer: InMemoryChannelLayer;
  service: WebSocketService;
  server: Server;
  errors: Array<{ error: unknown; context: ConsumerErrorContext }>;
}

const cleanups: Array<() => Promise<void>> = [];

export async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}

export async function startServer(options: Omit<ServeOptions, "server" | "layer">): Promise<TestServer> {
  const layer = new InMemoryChannelLayer();
  const server = createServer((_req, res) => res.writeHead(404).end());
  const errors: TestServer["errors"] = [];
  const service = serve({ onError: (error, context) => errors.push({ error, context }), ...options, server, layer });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  cleanups.push(async () => {
    await service.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await layer.close();
  });
  return { base: `ws://127.0.0.1:${port}`, layer, service, server, errors };
}

/** A `ws` client that queues what it receives, so tests can await frames in order. */
export class Client {
  readonly ws: WebSocket;
  private readonly frames: Array<string | Buffer> = [];
  private readonly waiting: Array<(frame: string | Buffer) => void> = [];
  private readonly watchers: Array<() => void> = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The HTTP status when the server refused the handshake. */
  readonly refused: Promise<number>;

  constructor(url: string, protocols?: string[], options?: WebSocket.ClientOptions) {
    this.ws = new WebSocket(url, protocols, options);
    this.ws.on("message", (data: Buffer, isBinary: boolean) => {
      const frame = isBinary ? data : data.toString("utf8");
      const w = this.waiting.shift();
      if (w) w(frame);
      else this.frames.push(frame);
      for (const watch of this.watchers.splice(0)) watch();
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
    this.closed = new Promise((resolve) => this.ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
    this.refused = new Promise((resolve) => this.ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      this.ws.terminate();
    }));
    this.opened.catch(() => {});
    cleanups.push(async () => {
      if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    });
  }

  next(): Promise<string | Buffer> {
    const f = this.frames.shift();
    if (f !== undefined) return Promise.resolve(f);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Resolves once a frame is queued, without taking it. */
  peek(): Promise<void> {
    if (this.frames.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push(resolve));
  }

  async json(): Promise<Record<string, unknown>> {
    const f = await this.next();
    if (typeof f !== "string") throw new Error(`expected a text frame, got ${f.length} bytes`);
    return JSON.parse(f) as Record<string, unknown>;
  }

  send(data: string | Buffer): void {
    this.ws.send(data);
  }
}

export async function open(url: string, protocols?: string[]): Promise<Client> {
  const c = new Client(url, protocols);
  await c.opened;
  return c;
}
