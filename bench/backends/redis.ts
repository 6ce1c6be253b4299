/**
 * Redis rows: ours (`redis`) and channels_redis (`python-redis`) on the same
 * server, each under its own key prefix, removed afterwards.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { RedisChannelLayer } from "../../src/index.js";
import type { BenchBackend } from "../types.js";
import { OwnCluster } from "../../test/redis/own-cluster.js";
import { layerBackend } from "./layer.js";
import { pythonBackend } from "./python.js";
import { presenceRows } from "../presence.js";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379/0";
export const prefix = (who: string): string => `asgibench${who}${randomBytes(4).toString("hex")}`;

export async function reachable(): Promise<true | string> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch (err) {
    return `no Redis at ${REDIS_URL} (${(err as Error).message}); set REDIS_URL`;
  } finally {
    client.disconnect();
  }
}

/** Both rows keep messages an hour: Python needs longer than the default minute to send the full pipeline. */
const EXPIRY = 3600;
const ours = prefix("node");
export const redis: BenchBackend = layerBackend(
  "redis",
  () => new RedisChannelLayer({ hosts: [REDIS_URL], prefix: ours, capacity: Infinity, expiry: EXPIRY }),
  {
    available: reachable,
    // A few thousand round trips a second: 50k measures it without minutes of waiting.
    maxN: 50_000,
    // Joins announced to the group, as on memory and the broker (docs/presence.md).
    extras: (quick) =>
      presenceRows(() => new RedisChannelLayer({ hosts: [REDIS_URL], prefix: ours, capacity: Infinity, expiry: EXPIRY, groupPresence: { "bench.presence.*.churn": { events: true } } }), quick),
    // Leave nothing behind: a run's keys expire anyway, but a bench should not wait for that.
    stop: async () => {
      const layer = new RedisChannelLayer({ hosts: [REDIS_URL], prefix: ours });
      await layer.flush();
      await layer.close();
    },
  },
);

/** The opt-in trade (docs/redis.md, "Read-ahead"): members popped ahead and held outside Redis, uncounted. */
const oursAhead = prefix("ahead");
export const redisReadAhead: BenchBackend = layerBackend(
  "redis-read-ahead",
  () => new RedisChannelLayer({ hosts: [REDIS_URL], prefix: oursAhead, capacity: Infinity, expiry: EXPIRY, readAheadOutsideRedis: true }),
  {
    available: reachable,
    maxN: 50_000,
    stop: async () => {
      const layer = new RedisChannelLayer({ hosts: [REDIS_URL], prefix: oursAhead });
      await layer.flush();
      await layer.close();
    },
  },
);

/**
 * The same workloads on a Redis Cluster on this machine, started for the run:
 * `redis-cluster` is 3 masters + 3 replicas (the durability a cluster is for).
 * Two rows take it apart (docs/scaling.md): `redis-cluster-masters` without
 * replicas (what replication costs here), `redis-cluster-3slots` with the ring
 * at 3 slots, one per master, instead of 16 (what splitting a tick's work over
 * 16 shards costs).
 */
function clusterBackend(name: string, replicas: 0 | 1, slots: number | undefined): BenchBackend {
  let cluster: OwnCluster | undefined;
  const keys = prefix(name.replaceAll("-", ""));
  return layerBackend(
    name,
    () => new RedisChannelLayer({ cluster: { nodes: cluster!.seeds, ...(slots === undefined ? {} : { slots }) }, prefix: keys, capacity: Infinity, expiry: EXPIRY }),
    {
      available: async () =>
        spawnSync("redis-cli", ["--version"]).status === 0 ? true : "no redis-server/redis-cli on this machine to start a cluster with",
      maxN: 50_000,
      start: async () => {
        cluster = await OwnCluster.start({ replicas });
      },
      stop: async () => {
        await cluster?.stop();
        cluster = undefined;
      },
    },
  );
}
export const redisCluster = clusterBackend("redis-cluster", 1, undefined);
export const redisClusterMasters = clusterBackend("redis-cluster-masters", 0, undefined);
export const redisCluster3Slots = clusterBackend("redis-cluster-3slots", 1, 3);

// channels_redis does about a thousand operations a second: 20k of each is enough to measure it.
const python = pythonBackend("python-redis", "redis", () => ["--redis", REDIS_URL, "--prefix", prefix("py"), "--expiry", String(EXPIRY)], 20_000);
export const pythonRedis: BenchBackend = {
  ...python,
  available: async () => {
    const redisOk = await reachable();
    return redisOk === true ? python.available() : redisOk;
  },
};
