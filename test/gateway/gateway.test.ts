/** The HTTP gateway with a real HTTP client, a real layer and real workers: every mapping of docs/request.md. */
import { createConnection } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createGateway, InMemoryChannelLayer, runWorker, type Gateway, type GatewayOptions, type LayerOptions, type Worker } from "../../src/index.js";
import { cacheKey, MemoryReplyCache } from "../../src/request/cache.js";
import { sleep } from "../conformance/helpers.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

async function start(
  routes: GatewayOptions["routes"],
  handlers: Parameters<typeof runWorker>[2] | undefined,
  extra: Partial<GatewayOptions> = {},
  layerOptions: LayerOptions = {},
): Promise<{ base: string; gateway: Gateway; layer: InMemoryChannelLayer; worker?: Worker }> {
  const layer = new InMemoryChannelLayer(layerOptions);
  open.push(layer);
  const worker = handlers && runWorker(layer, "app", handlers, { concurrency: 4, onError: () => undefined });
  if (worker) open.push({ close: () => worker.stop() });
  const gateway = createGateway({ layer, routes, ...extra });
  open.push(gateway);
  return { base: await gateway.listen(), gateway, layer, worker };
}

describe("HTTP gateway", () => {
  it("turns a request into an http.request message and the worker's reply into the response", async () => {
    let seen: Record<string, unknown> = {};
    const { base } = await start([{ method: "POST", path: "/things/:id", channel: "app" }], (m) => {
      seen = m;
      return { type: "http.response", status: 201, headers: { "x-made": "yes" }, body: { made: m.params, got: m.body } };
    });
    const res = await fetch(`${base}/things/42?tag=a&tag=b&one=1`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer secret-of-the-client", cookie: "s=1" },
      body: JSON.stringify({ name: "x" }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("x-made")).toBe("yes");
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toEqual({ made: { id: "42" }, got: { name: "x" } });
    expect(seen).toMatchObject({ type: "http.request", method: "POST", path: "/things/42", query: { tag: ["a", "b"], one: "1" } });
    // The caller's credentials never reach a worker.
    expect(seen.headers).not.toHaveProperty("authorization");
    expect(seen.headers).not.toHaveProperty("cookie");
  });

  it("passes other bodies as bytes with their content type, and answers text and bytes", async () => {
    const { base } = await start([{ method: "*", path: "/echo", channel: "app" }], (m) => ({
      type: "http.response",
      body: m.content_type === "text/plain" ? `got ${Buffer.from(m.body as Uint8Array).toString()}` : (m.body as Uint8Array),
    }));
    const text = await fetch(`${base}/echo`, { method: "PUT", headers: { "content-type": "text/plain" }, body: "hello" });
    expect(await text.text()).toBe("got hello");
    expect(text.headers.get("content-type")).toMatch(/^text\/plain/);
    const bytes = await fetch(`${base}/echo`, { method: "PUT", headers: { "content-type": "image/png" }, body: new Uint8Array([1, 2, 3]) });
    expect(new Uint8Array(await bytes.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("answers 400 for bad JSON, 413 for a body over the limit, 404 and 405 for unrouted requests — none reach a worker", async () => {
    let calls = 0;
    const { base } = await start([{ method: "POST", path: "/x", channel: "app" }], () => {
      calls++;
      return { type: "ok" };
    }, { maxBodyBytes: 1000 });
    const bad = await fetch(`${base}/x`, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/not valid JSON/);
    expect((await fetch(`${base}/x`, { method: "POST", body: "y".repeat(1001) })).status).toBe(413);
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    const wrong = await fetch(`${base}/x`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
    // A request target that is no URL is the caller's fault: 400, not "500 gateway error".
    const { hostname, port } = new URL(base);
    const statusLine = await new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: hostname, port: Number(port) });
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (text += chunk));
      socket.on("error", reject);
      socket.on("close", () => resolve(text.split("\r\n")[0]!));
      socket.end("GET http://[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    });
    expect(statusLine).toBe("HTTP/1.1 400 Bad Request");
    expect(calls).toBe(0);
  });

  it("answers a page on another origin with 403 before any worker sees it; its own host and listed origins pass", async () => {
    let calls = 0;
    const ok = (): { type: string; body: string } => (calls++, { type: "ok", body: "in" });
    const own = await start([{ method: "GET", path: "/x", channel: "app" }], ok);
    expect((await fetch(`${own.base}/x`, { headers: { origin: "http://evil.example" } })).status).toBe(403);
    expect(calls).toBe(0);
    expect((await fetch(`${own.base}/x`, { headers: { origin: own.base } })).status).toBe(200);
    expect((await fetch(`${own.base}/x`)).status).toBe(200); // no Origin: no browser page to protect
    const listed = await start([{ method: "GET", path: "/x", channel: "app" }], ok, { allowedOrigins: ["*.example.com"] });
    expect((await fetch(`${listed.base}/x`, { headers: { origin: "https://app.example.com" } })).status).toBe(200);
    expect((await fetch(`${listed.base}/x`, { headers: { origin: "https://example.org" } })).status).toBe(403);
  });

  it("requires the bearer token when it has one (401 without it)", async () => {
    const { base } = await start([{ method: "GET", path: "/x", channel: "app" }], () => ({ type: "ok", body: "in" }), { token: "s3cret" });
    const refused = await fetch(`${base}/x`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe("Bearer");
    expect((await fetch(`${base}/x`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect(await (await fetch(`${base}/x`, { headers: { authorization: "Bearer s3cret" } })).text()).toBe("in");
  });

  it("maps failures: timeout or no worker → 504, worker error → 502, full channel → 503, rate limit → 429 with Retry-After", async () => {
    const { base } = await start(
      [
        { method: "GET", path: "/slow", channel: "nobody", timeout: 100 },
        { method: "GET", path: "/fail", channel: "app" },
        { method: "GET", path: "/limited", channel: "limited", timeout: 100 },
      ],
      () => {
        throw Object.assign(new Error("disk on fire"), { code: "EIO" });
      },
      {},
      { channelCapacity: { nobody: 1 }, rateLimits: { limited: { rate: "1/h", burst: 1 } } },
    );
    expect((await fetch(`${base}/slow`)).status).toBe(504); // takes the one place in "nobody"
    const full = await fetch(`${base}/slow`);
    expect(full.status).toBe(503);
    expect(((await full.json()) as { error: string }).error).toMatch(/full/);
    const failed = await fetch(`${base}/fail`);
    expect(failed.status).toBe(502);
    expect(((await failed.json()) as { error: string }).error).toMatch(/EIO.*disk on fire/);
    expect((await fetch(`${base}/limited`)).status).toBe(504);
    const limited = await fetch(`${base}/limited`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("a reply that is not an HTTP response is the worker's fault: 502", async () => {
    const { base } = await start([{ method: "GET", path: "/x", channel: "app" }], () => ({ type: "r", status: 1000 }));
    expect((await fetch(`${base}/x`)).status).toBe(502);
  });

  it("caches a route's replies: 100 concurrent equal GETs make one worker call, then Age and Cache-Control tell the cache's story", async () => {
    let calls = 0;
    const { base, gateway } = await start([{ method: "GET", path: "/popular", channel: "app", cacheFor: 60 }], async () => {
      calls++;
      await sleep(50);
      return { type: "http.response", body: { n: calls } };
    });
    const all = await Promise.all(Array.from({ length: 100 }, () => fetch(`${base}/popular?x=1`, { headers: { "user-agent": `client-${Math.random()}` } })));
    expect(calls).toBe(1);
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(all[0]!.headers.get("cache-control")).toBe("max-age=60");
    await Promise.all(all.map((r) => r.json()));
    const later = await fetch(`${base}/popular?x=1`);
    expect(Number(later.headers.get("age"))).toBeLessThan(5); // whole seconds since the reply was cached
    expect(await later.json()).toEqual({ n: 1 });
    expect(calls).toBe(1);
    expect((await fetch(`${base}/popular?x=2`)).status).toBe(200);
    expect(calls).toBe(2);
    expect(gateway.counters.responses["2xx"]).toBe(102);
  });
});

describe("a cached gateway route is a shared cache", () => {
  /** A layer whose reply cache the test holds: it plays a writer the gateway does not control (another process, an older deploy, an attacker). */
  class HeldCacheLayer extends InMemoryChannelLayer {
    readonly cache = new MemoryReplyCache();
    protected override makeReplyCache(): MemoryReplyCache {
      return this.cache;
    }
  }

  it("never replays Set-Cookie, and never serves an entry longer than the route's cache=, whatever the entry's TTL or max-age says", async () => {
    const layer = new HeldCacheLayer();
    let calls = 0;
    const worker = runWorker(layer, "prices", () => ({ type: "http.response", body: `fresh ${++calls}` }));
    const gateway = createGateway({ layer, routes: [{ method: "GET", path: "/prices", channel: "prices", cacheFor: 1 }] });
    open.push(layer, { close: () => worker.stop() }, gateway);
    const base = await gateway.listen();
    // The entry another writer left: one user's cookie, a day's max-age, stored for a day.
    const message = { type: "http.request", method: "GET", path: "/prices", query: {}, params: {}, headers: { accept: "*/*" } }; // as fetch() asks
    const poisoned = { type: "http.response", headers: { "set-cookie": "session=attacker", "Clear-Site-Data": '"*"', "cache-control": "public, max-age=86400" }, body: "stale" };
    await layer.cache.set(cacheKey("prices", message), poisoned, 86_400);
    const replay = await fetch(`${base}/prices`);
    expect(await replay.text()).toBe("stale");
    expect(replay.headers.get("set-cookie")).toBeNull();
    expect(replay.headers.get("clear-site-data")).toBeNull();
    expect(replay.headers.get("cache-control")).toMatch(/^max-age=[01]$/);
    expect(calls).toBe(0);
    await sleep(1100); // past the route's cache=1
    const after = await fetch(`${base}/prices`);
    expect(await after.text()).toBe("fresh 1");
    expect(after.headers.get("cache-control")).toBe("max-age=1");
  });

  it("a worker's reply with Set-Cookie is sent without it and not stored; its max-age cannot outlive cache=", async () => {
    let calls = 0;
    const { base } = await start([{ method: "GET", path: "/me", channel: "app", cacheFor: 60 }, { method: "GET", path: "/list", channel: "app", cacheFor: 60 }], (m) => {
      calls++;
      return m.path === "/me"
        ? { type: "http.response", headers: { "Set-Cookie": "session=alice", "cache-control": "max-age=86400" }, body: "hello alice" }
        : { type: "http.response", headers: { "cache-control": "public, max-age=86400" }, body: "list" };
    });
    for (let i = 1; i <= 2; i++) {
      const me = await fetch(`${base}/me`);
      expect(await me.text()).toBe("hello alice");
      expect(me.headers.get("set-cookie")).toBeNull();
      expect(calls).toBe(i); // never answered from the cache
    }
    const list = await fetch(`${base}/list`);
    expect(list.headers.get("cache-control")).toBe("max-age=60");
    await fetch(`${base}/list`);
    expect(calls).toBe(3);
  });
});
