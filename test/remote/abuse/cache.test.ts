/**
 * The reply cache under attack (docs/security.md, attack table): a token
 * filling it with millions of tiny entries, and a mere sender of a service
 * channel storing its own answer for everyone's next request.
 */
import { afterEach, expect, it } from "vitest";
import { RemoteChannelLayer, runWorker, type BrokerServer } from "../../../src/index.js";
import { encodeMessage } from "../../../src/dependencies/msgpack.js";
import { parseTokenFile } from "../../../src/protocol/auth.js";
import { Op, Status } from "../../../src/protocol/ops.js";
import { cacheKey } from "../../../src/request/cache.js";
import { hello, rawClient, startBroker } from "../helpers.js";
import { attacker, childBrokerOn, goodClient, type ChildBroker } from "./helpers.js";

let child: ChildBroker | undefined;
/** Entries the filler stores: past what killed a 256 MB broker before the overhead was counted. */
const FILL = 1_000_000;
const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
  await child?.stop();
  child = undefined;
});

it("a million tiny entries keep the cache within its bound: the broker lives on a 256 MB heap and serves the good client", { timeout: 60_000 }, async () => {
  child = await childBrokerOn(["--max-old-space-size=256"]);
  const before = child.rssMb();
  const alone = await goodClient(child.url, 1000);
  // Keys as short as the broker takes (`<channel>:<digest>`) and one-byte bodies: what costs most per counted byte.
  const filler = await attacker(
    child.port,
    `const s = await rawSocket(port);
s.write(frameBytes(helloFrame("filler")));
const body = new Uint8Array([0xc0]);
void (async () => {
  for (let sent = 0; sent < ${FILL}; ) {
    const batch = [];
    for (let i = 0; i < 5000; i++, sent++) batch.push([Op.CacheSet, sent + 2, "s:" + sent.toString(36), body, 3_600_000]);
    if (!s.write(frameBytes(...batch))) await new Promise((r) => s.once("drain", r));
  }
})();`,
  );
  open.push({ close: () => filler.stop() });
  const during = await goodClient(child.url, 3000);
  const layer = new RemoteChannelLayer(child.url, { connectTimeout: 5000 });
  open.push(layer);
  // Until every entry was stored (or the broker died trying: on a 256 MB heap it did, at about 790k entries).
  let replyCache = (await layer.stats()).replyCache;
  for (let waited = 0; replyCache.entries + replyCache.evictions < FILL && waited < 40_000; waited += 250) {
    await new Promise((r) => setTimeout(r, 250));
    replyCache = (await layer.stats()).replyCache;
  }
  await filler.stop();
  expect(child.alive()).toBe(true);
  expect(replyCache.bytes).toBeLessThanOrEqual(16 * 1024 * 1024);
  expect(replyCache.entries).toBeLessThanOrEqual(65_536);
  expect(replyCache.evictions).toBeGreaterThan(0);
  const grew = child.rssMb() - before;
  console.log(`cache fill: rss +${grew.toFixed(0)} MB, ${replyCache.entries} entries, good client max ${alone.maxMs.toFixed(1)} ms alone, ${during.maxMs.toFixed(1)} ms during`);
  // 16 MiB counted is about 23 MB of resident memory (docs/request.md); the rest is the broker's own working set.
  expect(grew).toBeLessThan(120);
  expect(during.failures).toBe(0);
  expect(during.ops).toBeGreaterThan(50);
});

it("a token that may only send to a service cannot store an answer for it; the service's answer is what requesters get", async () => {
  const tokens = parseTokenFile(
    ["worker  send=reply.* receive=prices", "shop    send=prices", "mallory send=prices", "front   send=prices receive=prices", ""].join("\n"),
    "tokens.txt",
  );
  const logged: string[] = [];
  const { server, url } = await startBroker({ tokens, log: (line) => logged.push(line) });
  open.push(server as BrokerServer);
  const workerLayer = new RemoteChannelLayer(url, { token: "worker" });
  const shop = new RemoteChannelLayer(url, { token: "shop" });
  const front = new RemoteChannelLayer(url, { token: "front" });
  open.push(workerLayer, shop, front);
  let calls = 0;
  const worker = runWorker(workerLayer, "prices", (m) => ({ type: "price", sku: m.sku!, price: 12.5, n: ++calls }));
  open.push({ close: () => worker.stop() });

  // Mallory stores its own answer under the key of the request the others will make.
  const request = { type: "price.get", sku: "A-1" };
  const mallory = rawClient(url);
  open.push({ close: () => mallory.socket.destroy() });
  mallory.send(hello("mallory-secret", "mallory"), [Op.CacheSet, 2, cacheKey("prices", request), encodeMessage({ type: "price", sku: "A-1", price: 0.01, note: "poisoned" }), 86_400_000]);
  expect((await mallory.answer(2)).slice(1, 3)).toEqual([Status.Error, "ERR_FORBIDDEN"]);
  expect(server.broker.replies.stats().entries).toBe(0);

  // Requesters get the worker's answer. A send-only requester's reply is not stored (said once in the log) ...
  expect(await shop.request("prices", request, { cacheFor: 30, timeout: 5000 })).toMatchObject({ price: 12.5, n: 1 });
  await new Promise((r) => setTimeout(r, 50));
  expect(server.broker.replies.stats().entries).toBe(0);
  // Once per connection: Mallory's and the shop's.
  expect(await shop.request("prices", { ...request, sku: "B-2" }, { cacheFor: 30, timeout: 5000 })).toMatchObject({ n: 2 });
  await new Promise((r) => setTimeout(r, 50));
  expect(logged.filter((l) => /may not store replies of "prices"/.test(l))).toHaveLength(2);
  // ... one whose token may receive from the service stores it, and it answers everyone after.
  expect(await front.request("prices", request, { cacheFor: 30, timeout: 5000 })).toMatchObject({ price: 12.5, n: 3 });
  await new Promise((r) => setTimeout(r, 50));
  expect(await shop.request("prices", request, { cacheFor: 30, timeout: 5000 })).toMatchObject({ price: 12.5, n: 3 });
  expect(calls).toBe(3);
});

it("a token filling the cache evicts only its own share: another token's answers stay", async () => {
  const tokens = parseTokenFile(["alpha  send=a.* receive=a.*", "beta   send=b.* receive=b.*", ""].join("\n"), "tokens.txt");
  const { server, url } = await startBroker({ tokens, maxCacheBytes: 64 * 1024 });
  open.push(server as BrokerServer);
  const [alpha, beta] = [rawClient(url), rawClient(url)];
  open.push({ close: () => alpha.socket.destroy() }, { close: () => beta.socket.destroy() });
  const answer = encodeMessage({ type: "answer" });
  beta.send(hello("beta-secret", "beta"), [Op.CacheSet, 2, "b.svc:kept", answer, 60_000]);
  expect((await beta.answer(2))[1]).toBe(Status.Ok);
  // Alpha stores ten times what the whole cache holds.
  const fill = Array.from({ length: 2000 }, (_, i) => [Op.CacheSet, i + 2, `a.svc:${i}`, answer, 60_000]);
  alpha.send(hello("alpha-secret", "alpha"));
  await alpha.answer(1);
  alpha.send(...fill);
  expect((await alpha.answer(2001))[1]).toBe(Status.Ok);
  const stats = server.broker.replies.stats();
  expect(stats.bytes).toBeLessThanOrEqual(64 * 1024);
  expect(stats.evictions).toBeGreaterThan(1000);
  beta.send([Op.CacheGet, 3, "b.svc:kept"]);
  expect(Buffer.from((await beta.answer(3))[2] as Uint8Array)).toEqual(answer);
});
