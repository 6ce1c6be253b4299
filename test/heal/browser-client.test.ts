/**
 * channel-layers/browser in Node, with `ws` as its WebSocket: it reconnects
 * with growing, jittered delays, calls resync after each reconnect (not on
 * the first open), and stops for good on close() or a final close code.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { connect, type Connection, type ConnectionState, type StateInfo, type WebSocketConstructor } from "../../src/browser/index.js";
import { waitFor } from "../wait.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function echoServer(port = 0): Promise<{ server: Server; wss: WebSocketServer; port: number; close(): Promise<void> }> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  wss.on("connection", (ws) => ws.on("message", (data) => ws.send(String(data))));
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  const close = async (): Promise<void> => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return { server, wss, port: (server.address() as AddressInfo).port, close };
}

function client(port: number, extra: Parameters<typeof connect>[1] = {}): { conn: Connection; states: Array<[ConnectionState, StateInfo]>; got: unknown[]; resyncs: () => number } {
  const states: Array<[ConnectionState, StateInfo]> = [];
  const got: unknown[] = [];
  let resyncs = 0;
  const conn = connect(`ws://127.0.0.1:${port}/`, {
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    minDelay: 50,
    maxDelay: 400,
    onState: (s, info) => states.push([s, info]),
    onMessage: (m) => got.push(m),
    resync: () => resyncs++,
    ...extra,
  });
  cleanups.push(() => conn.close());
  return { conn, states, got, resyncs: () => resyncs };
}

describe("channel-layers/browser", () => {
  it("speaks JSON, reconnects with growing jittered delays, and resyncs after each reconnect only", { timeout: 20_000 }, async () => {
    let srv = await echoServer();
    const port = srv.port;
    const c = client(port);
    await waitFor("open", () => c.conn.state === "open", { timeout: 5000 });
    expect(c.states[0]).toEqual(["open", { reconnected: false }]);
    expect(c.conn.send({ type: "hi", n: 1 })).toBe(true);
    await waitFor("echo", () => c.got.length === 1, { timeout: 5000 });
    expect(c.got).toEqual([{ type: "hi", n: 1 }]);
    expect(c.resyncs()).toBe(0);

    await srv.close();
    await waitFor("a few retries", () => c.states.filter(([s]) => s === "reconnecting").length >= 4, { timeout: 5000 });
    expect(c.conn.send({ type: "lost" })).toBe(false);
    const delays = c.states.filter(([s]) => s === "reconnecting").map(([, i]) => i.delay!);
    // Attempt n waits between half and all of min(maxDelay, minDelay * 2^n).
    delays.forEach((d, n) => {
      const step = Math.min(400, 50 * 2 ** n);
      expect(d).toBeGreaterThanOrEqual(step / 2);
      expect(d).toBeLessThanOrEqual(step);
    });

    srv = await echoServer(port);
    cleanups.push(() => srv.close());
    await waitFor("reopened", () => c.conn.state === "open", { timeout: 5000 });
    expect(c.states.at(-1)).toEqual(["open", { reconnected: true }]);
    expect(c.resyncs()).toBe(1);
    c.conn.send({ type: "again" });
    await waitFor("echo again", () => c.got.length === 2, { timeout: 5000 });

    c.conn.close();
    expect(c.conn.state).toBe("closed");
    await new Promise((r) => setTimeout(r, 200));
    expect(srv.wss.clients.size).toBe(0);
  });

  it("stops for good when the server closes with a policy code (1008)", async () => {
    const srv = await echoServer();
    cleanups.push(() => srv.close());
    srv.wss.on("connection", (ws) => ws.close(1008, "go away"));
    const c = client(srv.port);
    await waitFor("closed", () => c.conn.state === "closed", { timeout: 5000 });
    expect(c.states.at(-1)).toEqual(["closed", { code: 1008, reason: "go away" }]);
  });

  it("msgpack needs a codec the page brings", () => {
    expect(() => connect("ws://127.0.0.1:1/", { format: "msgpack", WebSocket: WebSocket as unknown as WebSocketConstructor })).toThrow(/codec/);
  });
});
