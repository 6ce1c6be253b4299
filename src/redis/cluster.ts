/**
 * A Redis Cluster as the layer's ring of shards (docs/redis.md, "Redis
 * Cluster"). The ring has `slots` shards (default 16); shard i puts a hash
 * tag `{k}` before each of its keys, chosen so its slot lies in the i-th
 * sixteenth of the slot space, so every key one Lua script touches (a send
 * batch, a group send's share, a receive loop's pop and block) is in one slot,
 * and the shards spread over the masters. Channels and groups go to shards
 * by the same hash as channels_redis' ring; the cluster decides which master
 * serves each slot, and ioredis' Cluster client follows MOVED and ASK.
 */
import type { Cluster, ClusterOptions, Redis, RedisOptions } from "ioredis";
import { loadIoredis } from "../dependencies/load-on-use.js";

interface ClusterNode {
  host: string;
  port: number;
}
import { release, Shard } from "./connections.js";
import { installScripts, type ScriptedRedis } from "./scripts.js";
import { clusterSlot, clusterTags } from "./sharding.js";

export interface RedisClusterOptions {
  /** Some of the cluster's nodes (`"host:port"`, `[host, port]` or `{ host, port }`): the client learns the rest. */
  nodes: Array<string | [string, number] | { host: string; port: number }>;
  /**
   * Hash slots the layer's keys use, one per shard of its ring (default 16):
   * the most masters that share its load. Every process must use the same number.
   */
  slots?: number;
}

/** Milliseconds between retries while a slot has no master (a failover) or moves. */
const RETRY_MS = 200;

function node(n: RedisClusterOptions["nodes"][number]): ClusterNode {
  if (Array.isArray(n)) return { host: n[0], port: n[1] };
  if (typeof n === "string") {
    const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(n.trim());
    if (!m || m[1] === "") throw new TypeError(`Redis Cluster node "${n}" is not host:port`);
    return { host: m[1]!, port: m[2] === undefined ? 6379 : Number(m[2]) };
  }
  if (typeof n !== "object" || n === null || typeof n.host !== "string") {
    throw new TypeError("a Redis Cluster node is \"host:port\", [host, port] or { host, port }");
  }
  return { host: n.host, port: n.port };
}

/** Check the cluster option before any connection is made. */
export function checkCluster(cluster: RedisClusterOptions): { nodes: ClusterNode[]; slots: number } {
  if (typeof cluster !== "object" || cluster === null || !Array.isArray(cluster.nodes) || cluster.nodes.length === 0) {
    throw new TypeError("cluster.nodes must be a non-empty array of Redis Cluster nodes");
  }
  const slots = cluster.slots ?? 16;
  if (!Number.isInteger(slots) || slots < 1 || slots > 1024) throw new TypeError(`cluster slots must be a whole number from 1 to 1024, got ${String(slots)}`);
  return { nodes: cluster.nodes.map(node), slots };
}

/**
 * ioredis Cluster options: a command meeting a failover or a moving slot is
 * retried every RETRY_MS for about `timeoutMs` (connectionLostTimeout) before
 * it fails, as a single server's client waits out an outage.
 */
function clusterOptions(redisOptions: RedisOptions, timeoutMs: number, autoPipelining: boolean, refreshMs: number | undefined): ClusterOptions {
  return {
    ...(refreshMs === undefined ? {} : { slotsRefreshInterval: refreshMs }),
    redisOptions,
    enableAutoPipelining: autoPipelining,
    clusterRetryStrategy: () => RETRY_MS,
    retryDelayOnFailover: RETRY_MS,
    retryDelayOnClusterDown: RETRY_MS,
    retryDelayOnTryAgain: RETRY_MS,
    maxRedirections: Math.max(16, Math.ceil(timeoutMs / RETRY_MS)),
    slotsRefreshTimeout: 1000,
  };
}

/**
 * The ring of shards over a cluster: one shared command client, one shared
 * auto-pipelining client for the hot calls (Shard.hot), one receive client
 * per shard. `refreshMs`: how often the command client reloads the
 * slot table besides on redirects (the pub/sub layer's subscribers follow it).
 */
export function clusterShards(cluster: RedisClusterOptions, redisOptions: RedisOptions, timeoutMs: number, refreshMs?: number): Shard[] {
  const { nodes, slots } = checkCluster(cluster);
  const make = (autoPipelining: boolean, seeds = nodes): Redis => {
    const client = new (loadIoredis().Cluster)(seeds, clusterOptions(redisOptions, timeoutMs, autoPipelining, refreshMs));
    // Errors surface through the commands that fail; without a listener ioredis prints them.
    client.on("error", () => {});
    // The Cluster client has the commands we use of a single server's (the loop and layer avoid the rest).
    return client as unknown as Redis;
  };
  const commands: ScriptedRedis = installScripts(make(false));
  let pipelined: ScriptedRedis | undefined;
  const where = `Redis Cluster ${nodes.map((n) => `${n.host}:${n.port}`).join(",")}`;
  const table = (): string[][] => (commands as unknown as Cluster).slots;
  return clusterTags(slots).map((tag, i) => {
    const slot = clusterSlot(tag.slice(1, -1));
    return new Shard(i, "", () => make(false), {}, timeoutMs, undefined, {
      commands,
      // Made on first use, when the seeds given may be gone (a failover): it starts from every node the command client knows.
      pipelined: () => (pipelined ??= installScripts(make(true, [...known(table()), ...nodes]))),
      release: async () => {
        if (pipelined) await release(pipelined);
      },
      // A loop's client, made at its first receive: it starts from its slot's master, the one node it needs.
      connect: () => make(false, [...known([table()[slot] ?? []]), ...nodes]),
      tag,
      where: `${where} slot ${slot}`,
      master: () => table()[slot]?.[0],
      serves: (node) => table().some((owners) => owners[0] === node),
    });
  });
}

/** The nodes a slot table names ("host:port"), each once. */
function known(table: string[][]): ClusterNode[] {
  const keys = new Set(table.flat());
  return [...keys].map((key) => {
    const colon = key.lastIndexOf(":");
    return { host: key.slice(0, colon), port: Number(key.slice(colon + 1)) };
  });
}

/** The cluster's masters, for what must visit every node (flush's SCAN). */
export function masters(client: Redis): Redis[] {
  return (client as unknown as Cluster).nodes("master");
}
