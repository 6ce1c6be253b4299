/**
 * `redis://[:password@]host[:port][/db][?prefix=asgi&expiry=60…]`,
 * `rediss://…` (TLS) and `redis+cluster://host:port,host:port[?slots=16…]`
 * (a Redis Cluster, docs/redis.md) for createChannelLayer. The numeric layer options come
 * from the shared query parsing in src/url.ts; the Redis-only ones are read here.
 */
import type { LayerOptions } from "../layer.js";
import { RedisChannelLayer, type RedisLayerOptions } from "./layer.js";

/** Query keys only the Redis backend understands. */
export const REDIS_QUERY_OPTIONS = ["prefix", "connectionLostTimeout", "receiveLinger", "readAheadOutsideRedis"] as const;

/** The numeric ones, read as numbers (the layer checks their range). */
const NUMERIC = ["connectionLostTimeout", "receiveLinger"] as const;

/** Query keys of `redis+cluster://` beyond those of `redis://`. */
export const CLUSTER_QUERY_OPTIONS = [...REDIS_QUERY_OPTIONS, "slots", "nodes"] as const;

/**
 * A WHATWG URL cannot hold `host:port,host:port`: a cluster URL's node list
 * moves into its query (`?nodes=…`) before it is parsed. Other URLs pass unchanged.
 */
export function clusterNodesToQuery(raw: string): string {
  const m = /^(rediss?\+cluster:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(raw);
  if (!m) return raw;
  const [, scheme, hosts, path, query = "", hash = ""] = m;
  const at = hosts!.lastIndexOf("@");
  const auth = at >= 0 ? hosts!.slice(0, at + 1) : "";
  const nodes = encodeURIComponent(hosts!.slice(at + 1));
  return `${scheme}${auth}cluster${path}${query ? `${query}&` : "?"}nodes=${nodes}${hash}`;
}

export function clusterFromUrl(url: URL, options: LayerOptions & Record<string, unknown>): RedisChannelLayer {
  const nodes = (url.searchParams.get("nodes") ?? "").split(",").filter((n) => n !== "");
  if (nodes.length === 0) throw new TypeError("a redis+cluster:// URL names at least one node: redis+cluster://host:port,host:port");
  const slotsText = url.searchParams.get("slots");
  const slots = slotsText === null ? undefined : Number(slotsText);
  if (slotsText !== null && (slotsText.trim() === "" || !Number.isInteger(slots))) {
    throw new TypeError(`option "slots" in channel layer URL must be a whole number, got "${slotsText}"`);
  }
  const redisOptions = {
    ...(url.protocol === "rediss+cluster:" ? { tls: {} } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
  return new RedisChannelLayer({
    cluster: { nodes, ...(slots === undefined ? {} : { slots }) },
    redisOptions,
    ...queryOptions(url),
    ...(options as RedisLayerOptions),
  });
}

export function redisFromUrl(url: URL, options: LayerOptions & Record<string, unknown>): RedisChannelLayer {
  const server = new URL(url.href);
  server.search = "";
  return new RedisChannelLayer({ hosts: [server.href], ...queryOptions(url), ...(options as RedisLayerOptions) });
}

/** The Redis-only options in a URL's query. */
function queryOptions(url: URL): RedisLayerOptions {
  const fromQuery: RedisLayerOptions = {};
  const prefix = url.searchParams.get("prefix");
  if (prefix !== null) fromQuery.prefix = prefix;
  for (const option of NUMERIC) {
    const text = url.searchParams.get(option);
    if (text === null) continue;
    const n = Number(text);
    if (text.trim() === "" || Number.isNaN(n)) throw new TypeError(`option "${option}" in channel layer URL must be a number, got "${text}"`);
    fromQuery[option] = n;
  }
  const readAhead = url.searchParams.get("readAheadOutsideRedis");
  if (readAhead !== null) {
    if (readAhead !== "true" && readAhead !== "false") {
      throw new TypeError(`option "readAheadOutsideRedis" in channel layer URL must be true or false, got "${readAhead}"`);
    }
    fromQuery.readAheadOutsideRedis = readAhead === "true";
  }
  return fromQuery;
}
