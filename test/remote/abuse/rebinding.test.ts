/**
 * DNS rebinding (issue 23, item 7): a page on evil.example whose name now
 * resolves to 127.0.0.1 sends its requests to a loopback server with
 * `Host: evil.example` (and, being same-origin, an Origin of that host or
 * none). The gateway, the broker's --http side and serve() answer it 403,
 * without a token, a worker or a WebSocket; loopback names and the names the
 * user lists still pass.
 */
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import WebSocket from "ws";
import { createGateway, InMemoryChannelLayer, runWorker, serve, WebSocketConsumer } from "../../../src/index.js";
import { startObserved } from "../../observe/helpers.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** GET `path` with the given Host header; resolves with the status and body. */
function get(base: string, path: string, host: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname.replace(/^\[|\]$/g, ""), port, path, headers: { host, ...headers } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function gateway(listenHost = "127.0.0.1", allowedHosts?: string[]): Promise<{ base: string; calls: () => number }> {
  const layer = new InMemoryChannelLayer();
  let calls = 0;
  const worker = runWorker(layer, "app", () => {
    calls++;
    return { type: "http.response", body: "secret prices" };
  });
  const g = createGateway({ layer, routes: [{ method: "GET", path: "/prices", channel: "app" }], allowedHosts });
  const base = await g.listen(0, listenHost);
  cleanup.push(() => layer.close(), () => worker.stop(), () => g.close());
  return { base: base.replace("0.0.0.0", "127.0.0.1"), calls: () => calls };
}

it("the loopback gateway answers Host: evil.example with 403 and reaches no worker; loopback names and --allowed-host names pass", async () => {
  const { base, calls } = await gateway("127.0.0.1", ["app.example.com"]);
  const port = new URL(base).port;
  const evil = await get(base, "/prices", `evil.example:${port}`, { origin: `http://evil.example:${port}` });
  expect(evil.status).toBe(403);
  expect(evil.body).toMatch(/Host \\"evil\.example:\d+\\" is not a name of this server/);
  expect((await get(base, "/prices", "evil.example")).status).toBe(403); // a same-origin GET carries no Origin
  expect(calls()).toBe(0);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost", `[::1]:${port}`, "app.example.com", `APP.example.com:${port}`]) {
    expect((await get(base, "/prices", host)).status, host).toBe(200);
  }
  expect(calls()).toBe(6);
});

it("a gateway bound to all interfaces keeps its rule: any Host", async () => {
  const { base } = await gateway("0.0.0.0");
  expect((await get(base, "/prices", "gateway.example.com")).status).toBe(200);
});

it("the broker's --http side answers a rebinding request with 403 on every path; loopback and listed names pass", async () => {
  const o = await startObserved({}, { allowedHosts: ["stats.internal"] });
  cleanup.push(() => o.close());
  const port = new URL(o.http).port;
  for (const path of ["/api/stats", "/metrics", "/", "/healthz"]) {
    expect((await get(o.http, path, `evil.example:${port}`)).status, path).toBe(403);
    expect((await get(o.http, path, `localhost:${port}`)).status, path).toBe(200);
  }
  expect((await get(o.http, "/api/stats", "stats.internal")).status).toBe(200);
});

class Echo extends WebSocketConsumer {
  override receive(data: string | Buffer): void {
    this.send(data);
  }
}

/** A WebSocket handshake with these headers: "open", or the status it was refused with. */
function handshake(port: number, headers: Record<string, string>): Promise<"open" | number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers });
  return new Promise((resolve) => {
    ws.once("open", () => {
      ws.terminate();
      resolve("open");
    });
    ws.once("unexpected-response", (_req, res: IncomingMessage) => {
      resolve(res.statusCode!);
      ws.terminate();
    });
    ws.once("error", () => {});
  });
}

it("serve() on loopback with default origins refuses a rebinding handshake with 403 (no 101); a route with its own origins and allowedHosts names decide for themselves", async () => {
  const layer = new InMemoryChannelLayer();
  const server: Server = createServer((_req, res) => res.end());
  const lines: string[] = [];
  const service = serve({ server, layer, routes: [{ path: "/ws", consumer: Echo }], log: (l) => lines.push(l), allowedHosts: ["chat.example.com"] });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => layer.close(), () => new Promise((r) => server.close(r)), () => service.close());
  const { port } = server.address() as AddressInfo;
  expect(await handshake(port, { host: `evil.example:${port}`, origin: `http://evil.example:${port}` })).toBe(403);
  expect(lines.some((l) => /refused: Host "evil\.example:\d+" is not a name of this server/.test(l))).toBe(true);
  expect(await handshake(port, { origin: `http://127.0.0.1:${port}` })).toBe("open");
  expect(await handshake(port, { host: `localhost:${port}`, origin: `http://localhost:${port}` })).toBe("open");
  expect(await handshake(port, { host: "chat.example.com", origin: "http://chat.example.com" })).toBe("open");
});

it("serve() without allowedHosts: a route with its own allowedOrigins keeps only its origin rule", async () => {
  const layer = new InMemoryChannelLayer();
  const server: Server = createServer((_req, res) => res.end());
  const service = serve({ server, layer, routes: [{ path: "/ws", consumer: Echo, allowedOrigins: ["https://app.example.com"] }], log: () => undefined });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => layer.close(), () => new Promise((r) => server.close(r)), () => service.close());
  const { port } = server.address() as AddressInfo;
  expect(await handshake(port, { host: "evil.example", origin: "http://evil.example" })).toBe(403); // by its origin
  expect(await handshake(port, { host: "app.example.com", origin: "https://app.example.com" })).toBe("open");
});
