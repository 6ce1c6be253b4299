/** request(…, { cacheFor }) over the broker: the cache lives in the broker, shared by every client, bounded in bytes and counted (docs/request.md). */
import { afterEach, expect, it } from "vitest";
import { ForbiddenError, RemoteChannelLayer, runWorker, type BrokerServer } from "../../src/index.js";
import { parseTokenFile } from "../../src/protocol/auth.js";
import { startBroker } from "./helpers.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

async function broker(options: Parameters<typeof startBroker>[0] = {}): Promise<{ server: BrokerServer; url: string }> {
  const b = await startBroker(options);
  open.push(b.server);
  return b;
}

function client(url: string, token?: string): RemoteChannelLayer {
  const layer = new RemoteChannelLayer(url, token === undefined ? {} : { token });
  open.push(layer);
  return layer;
}

it("a reply cached through one client answers another client's equal request; the broker counts hits and misses", async () => {
  const { server, url } = await broker();
  const [first, second, workerLayer] = [client(url), client(url), client(url)];
  let calls = 0;
  const worker = runWorker(workerLayer, "prices", (m) => ({ type: "price", sku: m.sku!, n: ++calls }));
  open.push({ close: () => worker.stop() });
  expect(await first.request("prices", { type: "get", sku: "A" }, { cacheFor: 30, timeout: 5000 })).toEqual({ type: "price", sku: "A", n: 1 });
  expect(await second.request("prices", { type: "get", sku: "A" }, { cacheFor: 30, timeout: 5000 })).toEqual({ type: "price", sku: "A", n: 1 });
  expect(calls).toBe(1);
  const stats = await second.stats();
  expect(stats.replyCache).toMatchObject({ entries: 1, hits: 1, misses: 1 });
  expect(server.broker.replies.stats().bytes).toBeGreaterThan(0);
});

it("stays within maxCacheBytes by evicting the least recently used replies, and counts the evictions", async () => {
  const { url } = await broker({ maxCacheBytes: 4096 });
  const [caller, workerLayer] = [client(url), client(url)];
  const worker = runWorker(workerLayer, "pages", (m) => ({ type: "page", n: m.n!, text: "x".repeat(900) }));
  open.push({ close: () => worker.stop() });
  for (let n = 0; n < 20; n++) await caller.request("pages", { type: "get", n }, { cacheFor: 30, timeout: 5000 });
  const { replyCache } = await caller.stats();
  expect(replyCache.bytes).toBeLessThanOrEqual(4096);
  expect(replyCache.entries).toBeLessThan(20);
  expect(replyCache.evictions).toBe(20 - replyCache.entries);
});

it("a client may use the cache of a channel only where its token may send", async () => {
  const tokens = parseTokenFile(["ops  admin send=* receive=* group=*", "web  send=chat.* receive=chat.* group=room.*", ""].join("\n"), "tokens.txt");
  const { url } = await broker({ tokens });
  const web = client(url, "web");
  await expect(web.request("prices", { type: "get" }, { cacheFor: 30, timeout: 1000 })).rejects.toBeInstanceOf(ForbiddenError);
});
