/**
 * Group history's cost (docs/recovery.md): fanout with every bench group
 * keeping history, against the same backend without (the issue asks ≤ 1.3×),
 * and how long a reader that missed 1,000 messages takes to get them back.
 */
import { InMemoryChannelLayer, RedisChannelLayer, RemoteChannelLayer, type ChannelLayer } from "../../src/index.js";
import type { BenchBackend, ExtraResult } from "../types.js";
import { brokerBackend } from "./broker.js";
import { layerBackend } from "./layer.js";
import { prefix, reachable, REDIS_URL } from "./redis.js";

const HISTORY = { "bench.*": { size: 1000, ttl: 120 } };
const MISSED = 1000;

/** Median milliseconds of reading `MISSED` messages after a position, over a few rounds. */
async function recovery(layer: ChannelLayer, quick: boolean): Promise<ExtraResult> {
  const group = `bench.recover.${process.pid}`;
  const rounds = quick ? 5 : 21;
  const times: number[] = [];
  const start = performance.now();
  for (let round = 0; round < rounds; round++) {
    const { position } = await layer.groupHistory!(group, { limit: 1 });
    for (let i = 1; i < MISSED; i++) void layer.groupSend(group, { type: "bench.msg", i, text: "a chat line of some length" });
    await layer.groupSend(group, { type: "bench.last" });
    const t = performance.now();
    const read = await layer.groupHistory!(group, { since: position });
    times.push(performance.now() - t);
    if (!read.recovered || read.messages.length !== MISSED) throw new Error(`recovery bench: expected ${MISSED} messages recovered, got ${read.messages.length} (${read.recovered})`);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)]!;
  return { workload: "recover-1000", n: MISSED, seconds: (performance.now() - start) / 1000, opsPerSec: (MISSED / ms) * 1000, medianMs: +ms.toFixed(2) };
}

export const memoryHistory: BenchBackend = layerBackend("memory-history", () => new InMemoryChannelLayer({ capacity: Infinity, groupHistory: HISTORY }), {
  available: async () => true,
  workloads: ["fanout"],
  async extras(quick) {
    const layer = new InMemoryChannelLayer({ capacity: Infinity, groupHistory: HISTORY });
    try {
      return [await recovery(layer, quick)];
    } finally {
      await layer.close();
    }
  },
});

/** The tcp broker with history kept for every bench group. */
export const tcpHistory: BenchBackend = (() => {
  const backend = brokerBackend("tcp-history", ["--group-history", "bench.*=1000,120"]);
  return {
    ...backend,
    workloads: ["fanout"],
    async extras(quick: boolean) {
      const layer = new RemoteChannelLayer(backend.url(), { capacity: Infinity });
      try {
        return [await recovery(layer, quick)];
      } finally {
        await layer.close();
      }
    },
  };
})();

/** Redis (one server) with history kept for every bench group, under a prefix of its own, removed afterwards. */
const redisPrefix = prefix("history");
const redisLayer = (): RedisChannelLayer => new RedisChannelLayer({ hosts: [REDIS_URL], prefix: redisPrefix, capacity: Infinity, expiry: 3600, groupHistory: HISTORY });
export const redisHistory: BenchBackend = layerBackend("redis-history", redisLayer, {
  available: reachable,
  maxN: 50_000,
  workloads: ["fanout"],
  async extras(quick) {
    const layer = redisLayer();
    try {
      return [await recovery(layer, quick)];
    } finally {
      await layer.close();
    }
  },
  stop: async () => {
    const layer = new RedisChannelLayer({ hosts: [REDIS_URL], prefix: redisPrefix });
    await layer.flush();
    await layer.close();
  },
});
