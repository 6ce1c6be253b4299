/** Brokers for the remote tests: real BrokerServers on port 0 or a temp Unix socket. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { BrokerServer, type BrokerServerOptions, type LayerOptions } from "../../src/index.js";
import { encodeFrames, FrameDecoder } from "../../src/protocol/frames.js";
import { instanceIdOf, newInstanceSecret } from "../../src/protocol/identity.js";
import { Op, PROTOCOL_VERSION, Status } from "../../src/protocol/ops.js";

export type Kind = "tcp" | "unix";

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "channel-layers-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

let sockets = 0;
/** A listen address of `kind` nobody else uses. */
export function listenUrl(kind: Kind, dir: string): string {
  return kind === "tcp" ? "tcp://127.0.0.1:0" : `unix://${join(dir, `b${sockets++}.sock`)}`;
}

export async function startBroker(options: BrokerServerOptions = {}): Promise<{ server: BrokerServer; url: string }> {
  const server = new BrokerServer({ listen: "tcp://127.0.0.1:0", ...options });
  const [url] = await server.listen();
  return { server, url: url! };
}

/** A key telling option sets apart (RegExps and Infinity included). */
function keyOf(options: LayerOptions): string {
  return JSON.stringify(options, (_k, v: unknown) => (v instanceof RegExp ? `re:${String(v)}` : v === Infinity ? "inf" : v));
}

/**
 * One broker per distinct set of layer options: the engine's expiry and
 * capacity are the broker's, so layers made with the same options share a
 * broker (and see each other's channels), as the conformance suite expects.
 */
export function brokerPool(kind: Kind): { urlFor(options?: LayerOptions): Promise<string>; close(): Promise<void> } {
  const dir = tempDir();
  const brokers = new Map<string, Promise<{ server: BrokerServer; url: string }>>();
  return {
    urlFor(options = {}) {
      const key = keyOf(options);
      let started = brokers.get(key);
      if (started === undefined) {
        started = startBroker({ ...options, listen: listenUrl(kind, dir.path) });
        brokers.set(key, started);
      }
      return started.then((b) => b.url);
    },
    async close() {
      const all = await Promise.allSettled(brokers.values());
      await Promise.all(all.map((r) => (r.status === "fulfilled" ? r.value.server.close() : undefined)));
      dir.remove();
    },
  };
}

/** A client that speaks the wire protocol by hand, to test the broker with anything. */
export interface RawClient {
  socket: Socket;
  /** Frames received so far. */
  frames: unknown[][];
  /** Send protocol frames as one batch. */
  send(...frames: unknown[][]): void;
  /** Resolves with the first frame answering `id`. */
  answer(id: number, ms?: number): Promise<unknown[]>;
  /** Resolves when the broker has closed the connection. */
  closed: Promise<void>;
}

export function rawClient(url: string): RawClient {
  const address = new URL(url);
  const socket = address.protocol === "unix:" ? createConnection({ path: address.pathname }) : createConnection({ host: address.hostname, port: Number(address.port) });
  socket.on("error", () => {});
  const decoder = new FrameDecoder(64 * 1024 * 1024);
  const frames: unknown[][] = [];
  const waiters: Array<() => void> = [];
  socket.on("data", (chunk: Buffer) => {
    decoder.push(chunk, (f) => frames.push(f as unknown[]));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return {
    socket,
    frames,
    closed,
    send: (...batch) => socket.write(encodeFrames(batch)),
    async answer(id, ms = 2000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = frames.find((f) => f[0] === id);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no answer to ${id}; got ${JSON.stringify(frames)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 20);
        });
      }
    },
  };
}

/** A hello frame for the instance whose secret is `secret` (its id derives from it, docs/broker.md "Instance identity"). */
export function hello(secret: string, token: string | null = null, id = 1): unknown[] {
  return [Op.Hello, id, PROTOCOL_VERSION, instanceIdOf(secret), token, secret];
}

/** A raw client that has said hello as the instance of `secret` (a random one when not given); `instanceId` is its id. */
export async function helloClient(url: string, secret = newInstanceSecret(), token?: string): Promise<RawClient & { instanceId: string }> {
  const raw = rawClient(url);
  raw.send(hello(secret, token ?? null));
  const [, status] = await raw.answer(1);
  if (status !== Status.Ok) throw new Error(`hello refused: ${JSON.stringify(raw.frames)}`);
  return Object.assign(raw, { instanceId: instanceIdOf(secret) });
}

/** A relay on `port` (0: any) to `target`; `cut()` drops every connection and stops listening. */
export async function relay(target: number, port = 0): Promise<{ port: number; cut(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(target, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => (sockets.delete(s), client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  const cut = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  };
  return { port: (server.address() as { port: number }).port, cut };
}
