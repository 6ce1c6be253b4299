/** request(…, { cacheFor }) on Redis: the cache is a key with a TTL, shared by every Node process on the server. */
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import { runWorker } from "../../src/index.js";
import { cleanPrefix, keysUnder, makeLayer, REDIS_URL, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis");

const prefix = testPrefix();
afterAll(() => cleanPrefix(prefix));

it("a reply cached by one layer answers another layer's equal request, until its TTL", async () => {
  const [first, second, workerLayer] = [makeLayer(prefix), makeLayer(prefix), makeLayer(prefix)];
  let calls = 0;
  const worker = runWorker(workerLayer, "cached", () => ({ type: "answer", n: ++calls }));
  try {
    expect(await first.request("cached", { type: "q" }, { cacheFor: 30, timeout: 5000 })).toEqual({ type: "answer", n: 1 });
    expect(await second.request("cached", { type: "q" }, { cacheFor: 30, timeout: 5000 })).toEqual({ type: "answer", n: 1 });
    expect(calls).toBe(1);
    expect(second.requestCounters).toMatchObject({ cacheHits: 1, cacheMisses: 0 });
    const [key] = (await keysUnder(prefix)).filter((k) => k.includes(":request-cache:"));
    expect(key).toBeDefined();
    const redis = new Redis(REDIS_URL);
    try {
      const ttl = await redis.pttl(key!);
      expect(ttl).toBeGreaterThan(25_000);
      expect(ttl).toBeLessThanOrEqual(30_000);
    } finally {
      redis.disconnect();
    }
  } finally {
    await worker.stop();
    await Promise.all([first.close(), second.close(), workerLayer.close()]);
  }
});
