/**
 * The options both Redis layers (channels_redis' list layout and its pub/sub
 * one) take alike, checked by one rule before either makes a connection.
 */
import type { RedisOptions } from "ioredis";
import type { LayerOptions } from "../layer.js";
import { delayOption } from "../options/positive-option.js";
import { checkCluster, type RedisClusterOptions } from "./cluster.js";
import { presenceSettings, type PresenceSettings } from "./presence.js";
import { defaultFactory, outageOptions, resolveHost, type ClientFactory, type RedisHost } from "./connections.js";

export interface CommonRedisOptions extends LayerOptions {
  /** Redis servers; several shard the data as channels_redis does. Default `["redis://localhost:6379"]`. */
  hosts?: RedisHost[];
  /**
   * A Redis Cluster instead of `hosts` (docs/redis.md, "Redis Cluster"): Node
   * processes only, since channels_redis cannot use one.
   */
  cluster?: RedisClusterOptions;
  /** Prefix of every key and group channel name. Default `"asgi"` (channels_redis' default). */
  prefix?: string;
  /** Milliseconds Redis may stay unreachable before calls reject with ConnectionLostError. Default 10000. */
  connectionLostTimeout?: number;
  /** ioredis options applied to every connection (TLS, username, password, db, …). */
  redisOptions?: RedisOptions;
  /** Makes each connection; tests pass one that returns ioredis-mock clients. */
  createClient?: ClientFactory;
  /**
   * Seconds a process's presence entries outlive it when it dies without
   * closing (docs/presence.md "When a process dies"): its heartbeat's deadline.
   * Default 15; the leaves follow within a third more.
   */
  presenceTimeout?: number;
}

export interface CommonRedisSettings {
  prefix: string;
  /** Milliseconds Redis may stay unreachable before calls reject (connectionLostTimeout). */
  timeout: number;
  /** The Redis Cluster to use instead of `targets`, checked. */
  cluster: RedisClusterOptions | undefined;
  /** One connection target per host, in the order given (the shard order). */
  targets: Array<string | RedisOptions>;
  factory: ClientFactory;
  /** The caller's ioredis options with the outage behaviour of `timeout`. */
  clientOptions: RedisOptions;
  /** Which groups announce presence, and the seconds a dead process's entries outlive it (presence.ts). */
  presence: PresenceSettings;
}

/** Traffic options the engine backends honour and channels_redis has no state for. */
const ENGINE_ONLY = ["channelPriority", "rateLimits", "overflow", "deadLetters"] as const;

/** Check what both Redis layers take; `backend` names the layer in messages ("Redis", "Redis pub/sub"). */
export function commonRedisOptions(options: CommonRedisOptions, backend: string): CommonRedisSettings {
  for (const option of ENGINE_ONLY) {
    if (options[option] !== undefined) {
      throw new TypeError(
        `${option} is not available on ${backend}: channels_redis keeps no such state, so Python peers could not honour it; ` +
          "use it on an engine backend (memory, ipc, tcp)",
      );
    }
  }
  const prefix = options.prefix ?? "asgi";
  if (typeof prefix !== "string") throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
  if (options.cluster !== undefined) {
    if (options.hosts !== undefined) throw new TypeError("give hosts or cluster, not both: a Redis Cluster is one set of servers");
    checkCluster(options.cluster);
  }
  const hosts = options.hosts ?? ["redis://localhost:6379"];
  if (!Array.isArray(hosts) || hosts.length === 0) {
    throw new TypeError("hosts must be a non-empty array of Redis hosts (a list, even for one host)");
  }
  const timeout = delayOption(options.connectionLostTimeout, "connectionLostTimeout (ms)", 10_000);
  return {
    prefix,
    timeout,
    cluster: options.cluster,
    targets: hosts.map(resolveHost),
    factory: options.createClient ?? defaultFactory,
    clientOptions: { ...options.redisOptions, ...outageOptions(timeout) },
    presence: presenceSettings(options),
  };
}
