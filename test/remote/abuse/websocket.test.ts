/**
 * Attack-table rows 10 and 11, and the handshake hooks: a page on another
 * origin gets no connection (a real Chromium page included), the
 * authenticate hook decides scope.user, and an oversized frame costs one log
 * line, not a stack trace.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium } from "playwright-core";
import { afterEach, expect, it } from "vitest";
import WebSocket from "ws";
import { InMemoryChannelLayer, serve, WebSocketConsumer, type ServeOptions, type WebSocketInit, type WebSocketService } from "../../../src/index.js";
import { needs } from "../../services.js";

await needs("chromium");

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

let made = 0;
const users: unknown[] = [];
class Echo extends WebSocketConsumer {
  constructor(init: WebSocketInit) {
    super(init);
    made++;
    users.push(init.scope.user);
  }
  override receive(data: string | Buffer): void {
    this.send(data);
  }
}

const PAGE = "<!doctype html><title>page</title><body>page</body>";

async function start(options: Partial<ServeOptions> = {}): Promise<{ port: number; service: WebSocketService; lines: string[] }> {
  const layer = new InMemoryChannelLayer();
  const server: Server = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(PAGE));
  const lines: string[] = [];
  const service = serve({ server, layer, routes: [{ path: "/ws", consumer: Echo }], log: (l) => lines.push(l), ...options });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(async () => {
    await service.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await layer.close();
  });
  return { port: (server.address() as AddressInfo).port, service, lines };
}

/** Open a ws client; resolves with "open" or the HTTP status it was refused with. */
function attempt(port: number, headers: Record<string, string> = {}, path = "/ws"): Promise<{ result: "open" | number; ws: WebSocket }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
  return new Promise((resolve) => {
    ws.once("open", () => {
      cleanup.push(async () => ws.terminate());
      resolve({ result: "open", ws });
    });
    ws.once("unexpected-response", (_req, res: IncomingMessage) => {
      resolve({ result: res.statusCode!, ws });
      ws.terminate();
    });
    ws.once("error", () => {});
  });
}

it("by default only pages of the request's own host may connect; others get 403 before a consumer is made", async () => {
  const { port, lines } = await start();
  const before = made;
  expect((await attempt(port, { origin: "http://evil.example" })).result).toBe(403);
  expect((await attempt(port, { origin: `http://127.0.0.1:${port + 1}` })).result).toBe(403);
  expect((await attempt(port, { origin: "null" })).result).toBe(403);
  expect(made).toBe(before);
  expect(lines.some((l) => /refused: origin http:\/\/evil\.example is not allowed/.test(l))).toBe(true);
  expect((await attempt(port, { origin: `http://127.0.0.1:${port}` })).result).toBe("open");
  // No Origin: no browser page; let through (a non-browser client can claim any origin anyway).
  expect((await attempt(port)).result).toBe("open");
});

it("allowedOrigins: exact origins, *.example.com patterns, \"*\", and a route's own list", async () => {
  const { port } = await start({
    allowedOrigins: ["https://app.example.com", "*.example.org"],
    routes: [
      { path: "/ws", consumer: Echo },
      { path: "/open", consumer: Echo, allowedOrigins: "*" },
    ],
  });
  expect((await attempt(port, { origin: "https://app.example.com" })).result).toBe("open");
  expect((await attempt(port, { origin: "http://app.example.com" })).result).toBe(403);
  expect((await attempt(port, { origin: "https://chat.example.org" })).result).toBe("open");
  expect((await attempt(port, { origin: "https://example.org.evil.com" })).result).toBe(403);
  expect((await attempt(port, { origin: "https://evil.com" }, "/open")).result).toBe("open");
  expect(() => serve({ server: createServer(), layer: new InMemoryChannelLayer(), routes: [], allowedOrigins: "all" as never })).toThrow(
    /allowedOrigins must be "\*" or an array/,
  );
});

it("a real Chromium page on another origin gets no connection; a page of the same origin does", async () => {
  const target = await start();
  const other = await start();
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  cleanup.push(() => browser.close());
  const page = await browser.newPage();
  const tryFrom = async (pagePort: number): Promise<string> => {
    await page.goto(`http://127.0.0.1:${pagePort}/`);
    // A string, so that the page's own WebSocket is used (not this file's import of ws).
    return page.evaluate(`new Promise((resolve) => {
      const ws = new WebSocket("ws://127.0.0.1:${target.port}/ws");
      ws.onopen = () => { ws.close(); resolve("open"); };
      ws.onclose = () => resolve("refused");
      setTimeout(() => resolve("timeout"), 4000);
    })`);
  };
  const before = made;
  expect(await tryFrom(other.port)).toBe("refused");
  expect(made).toBe(before);
  expect(target.lines.some((l) => l.includes(`origin http://127.0.0.1:${other.port} is not allowed`))).toBe(true);
  expect(await tryFrom(target.port)).toBe("open");
});

it("authenticate: its result is scope.user; null refuses with 401, a throw with 403, before a consumer is made", async () => {
  const { port, lines } = await start({
    authenticate: async (request) => {
      const token = new URL(request.url!, "http://x").searchParams.get("token");
      if (token === "boom") throw new Error("token revoked");
      return token === "alice-token" ? { name: "alice" } : null;
    },
    routes: [{ path: "/ws", consumer: Echo }],
  });
  const before = made;
  expect((await attempt(port, {}, "/ws?token=nope")).result).toBe(401);
  expect((await attempt(port, {}, "/ws?token=boom")).result).toBe(403);
  expect(made).toBe(before);
  expect(lines).toContain("WebSocket from 127.0.0.1 /ws refused: token revoked");
  expect((await attempt(port, {}, "/ws?token=alice-token")).result).toBe("open");
  expect(users.at(-1)).toEqual({ name: "alice" });
});

it("a 5 MB frame closes the connection with 1009 and logs one line, no stack", async () => {
  const { port, lines } = await start({ maxPayload: 1024 * 1024 });
  const errors: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void errors.push(args);
  cleanup.push(async () => void (console.error = original));
  const { result, ws } = await attempt(port);
  expect(result).toBe("open");
  const code = await new Promise<number>((resolve) => {
    ws.once("close", (c) => resolve(c));
    ws.send(Buffer.alloc(5 * 1024 * 1024));
  });
  expect(code).toBe(1009);
  await new Promise((r) => setTimeout(r, 100));
  const about = lines.filter((l) => l.includes("over the size limit"));
  expect(about).toEqual(["WebSocket /ws closed: the client sent a frame over the size limit (WS_ERR_UNSUPPORTED_MESSAGE_LENGTH)"]);
  expect(errors).toEqual([]);
});
