/**
 * Slow and many HTTP clients (issue 23, item 6), on real sockets: 1,100
 * sockets sending their requests slowly no longer lock new clients out of
 * the gateway or the broker's --http side, a client's own slow upload from
 * another address survives them, and 3,000 requests at once to a slow route
 * are each answered 200, 503 or 504: none is reset.
 */
import { createConnection, type Socket } from "node:net";
import { afterEach, expect, it } from "vitest";
import { createGateway, InMemoryChannelLayer, runWorker, type Gateway } from "../../../src/index.js";
import { startObserved } from "../../observe/helpers.js";

const cleanup: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** `promise`, or a failure naming `what` after `ms`: a stall fails here, not at the test timeout. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting until ${what}`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One request on its own connection: the status the server answered, or "reset"/"closed" when it answered none. */
function rawRequest(port: number, text: string, localAddress?: string): Promise<number | "reset" | "closed"> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port, localAddress }, () => socket.write(text));
    let data = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (data += chunk));
    socket.on("error", () => resolve("reset"));
    socket.on("close", () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      resolve(m ? Number(m[1]) : "closed");
    });
  });
}

/**
 * `count` sockets from `localAddress` that each send `opening`, then one more
 * byte of `drip` every half second across all of them: half a slowloris of
 * headers, half of bodies. Resolves once all are connected.
 */
async function slowloris(port: number, count: number, localAddress: string): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const connected: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const slowBody = i % 2 === 0;
    const socket = createConnection({ host: "127.0.0.1", port, localAddress });
    socket.on("error", () => undefined);
    connected.push(new Promise((r) => socket.once("connect", () => r())));
    socket.once("connect", () =>
      socket.write(slowBody ? "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\nx" : "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "),
    );
    sockets.push(socket);
  }
  await within(Promise.all(connected), 10_000, `${count} slow sockets connected`);
  const drip = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write("a");
  }, 500);
  cleanup.push(() => {
    clearInterval(drip);
    for (const s of sockets) s.destroy();
  });
  await sleep(1200); // the server has accepted them all, and they are past their first second
  return sockets;
}

async function gateway(handler: Parameters<typeof runWorker>[2], options: { timeout?: number; concurrency?: number } = {}): Promise<{ gateway: Gateway; port: number }> {
  const layer = new InMemoryChannelLayer({ capacity: 10_000 });
  const worker = runWorker(layer, "app", handler, { concurrency: options.concurrency ?? 8, onError: () => undefined });
  const g = createGateway({ layer, routes: [{ method: "*", path: "/echo", channel: "app" }], timeout: options.timeout });
  const base = await g.listen();
  cleanup.push(() => layer.close(), () => worker.stop(), () => g.close());
  return { gateway: g, port: Number(new URL(base).port) };
}

const GET = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

it("new gateway clients are served during a 1,100-socket slowloris, and a slow upload from a third address survives it", async () => {
  const { gateway: g, port } = await gateway((m) => ({ type: "http.response", body: m.body === undefined ? "hi" : `got ${(m.body as Uint8Array).length}` }));
  // An honest client from 127.0.0.1 uploading slowly, already under way.
  const upload = createConnection({ host: "127.0.0.1", port, localAddress: "127.0.0.1" });
  let uploadReply = "";
  upload.on("data", (d: Buffer) => (uploadReply += d.toString("latin1")));
  const uploadClosed = new Promise((r) => upload.once("close", r));
  upload.write("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\n12345");
  await sleep(100);
  // The attack, from 127.0.0.2: more slow sockets than the gateway's 1,024 places.
  await slowloris(port, 1100, "127.0.0.2");
  const fresh = await within(Promise.all(Array.from({ length: 5 }, () => rawRequest(port, GET, "127.0.0.3"))), 5000, "five new clients were answered");
  expect(fresh).toEqual([200, 200, 200, 200, 200]);
  upload.write("67890");
  await within(uploadClosed, 5000, "the slow upload was answered");
  expect(uploadReply).toMatch(/^HTTP\/1\.1 200[^]*got 10/);
  expect(g.counters.connections.displaced).toBeGreaterThanOrEqual(5); // a slow socket for each newcomer
});

it("3,000 requests at once to a slow route are each answered 200, 503 or 504: no resets", async () => {
  const { gateway: g, port } = await gateway(
    async () => {
      await sleep(1000);
      return { type: "http.response", body: "slow" };
    },
    { timeout: 1500, concurrency: 1000 },
  );
  const answers = await within(Promise.all(Array.from({ length: 3000 }, () => rawRequest(port, GET))), 20_000, "3,000 requests were answered");
  const tally: Record<string, number> = {};
  for (const a of answers) tally[a] = (tally[a] ?? 0) + 1;
  expect(Object.keys(tally).filter((k) => !["200", "503", "504"].includes(k)), JSON.stringify(tally)).toEqual([]);
  expect(tally["200"]).toBeGreaterThan(0);
  expect(g.counters.connections.dropped).toBe(0);
});

it("the broker's --http side serves /healthz and /api/stats during a 1,100-socket slowloris from the clients' own address", async () => {
  const o = await startObserved();
  cleanup.push(() => o.close());
  const port = Number(new URL(o.http).port);
  await slowloris(port, 1100, "127.0.0.1"); // the same address as the clients: no telling them apart
  const paths = ["/healthz", "/api/stats", "/healthz"];
  const fresh = await within(Promise.all(paths.map((path) => rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, "127.0.0.1"))), 5000, "three new clients were answered");
  expect(fresh).toEqual([200, 200, 200]);
});
