/**
 * `createChannelLayer(url)`: one URL picks the backend, so users swap
 * backends without touching code (docs/semantics.md §3.5).
 */
import type { BundledChannelLayer, LayerOptions } from "./layer.js";
import { InMemoryChannelLayer } from "./memory.js";
import { IpcChannelLayer } from "./ipc/layer.js";
import { RemoteChannelLayer } from "./transport/remote-layer.js";
import { CLUSTER_QUERY_OPTIONS, clusterFromUrl, clusterNodesToQuery, redisFromUrl, REDIS_QUERY_OPTIONS } from "./redis/url.js";
import { pubsubFromUrl, PUBSUB_QUERY_OPTIONS } from "./redis/pubsub/url.js";

type Factory = (url: URL, options: LayerOptions & Record<string, unknown>) => BundledChannelLayer;

const BACKENDS: Record<string, Factory> = {
  "memory:": (_url, options) => new InMemoryChannelLayer(options),
  "tcp:": (url, options) => new RemoteChannelLayer(url.href, options),
  "tls:": (url, options) => new RemoteChannelLayer(url.href, options),
  "unix:": (url, options) => new RemoteChannelLayer(url.href, options),
  "ipc:": (_url, options) => new IpcChannelLayer(options),
  "redis:": redisFromUrl,
  "rediss:": redisFromUrl,
  "redis+pubsub:": pubsubFromUrl,
  "rediss+pubsub:": pubsubFromUrl,
  "redis+cluster:": clusterFromUrl,
  "rediss+cluster:": clusterFromUrl,
};

/** Query keys a backend reads from its URL itself (not numeric layer options). */
const BACKEND_QUERY: Record<string, readonly string[]> = {
  "redis:": REDIS_QUERY_OPTIONS,
  "rediss:": REDIS_QUERY_OPTIONS,
  "redis+pubsub:": PUBSUB_QUERY_OPTIONS,
  "rediss+pubsub:": PUBSUB_QUERY_OPTIONS,
  "redis+cluster:": CLUSTER_QUERY_OPTIONS,
  "rediss+cluster:": CLUSTER_QUERY_OPTIONS,
};

/** Numeric options given in the query string (`?capacity=500&expiry=30`). */
const QUERY_OPTIONS = ["expiry", "groupExpiry", "capacity", "maxMessageBytes"] as const;
/** Broker clients also read how long to wait for the broker (`tcp://host:port?connectTimeout=3000`). */
const BROKER_QUERY = [...QUERY_OPTIONS, "connectTimeout"] as const;
const BROKER_SCHEMES = ["tcp:", "tls:", "unix:", "ipc:"];

function queryOptions(url: URL): Partial<Record<(typeof BROKER_QUERY)[number], number>> {
  const out: Partial<Record<(typeof BROKER_QUERY)[number], number>> = {};
  const known = BROKER_SCHEMES.includes(url.protocol) ? BROKER_QUERY : QUERY_OPTIONS;
  for (const [key, value] of url.searchParams) {
    if (BACKEND_QUERY[url.protocol]?.includes(key)) continue;
    const name = known.find((k) => k === key || k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) === key);
    if (name === undefined) {
      throw new TypeError(`unknown option "${key}" in channel layer URL; known: ${known.join(", ")}`);
    }
    const n = value === "inf" || value === "Infinity" ? Infinity : Number(value);
    if (Number.isNaN(n)) throw new TypeError(`option "${key}" in channel layer URL must be a number, got "${value}"`);
    out[name] = n;
  }
  return out;
}

/**
 * Make a layer from a URL: `memory://`, `tcp://host:port`, `tls://host:port`,
 * `unix:///path.sock`, `ipc://` (in a child of a process that called serveIpc). Defaults to `$CHANNEL_LAYER_URL`,
 * then `memory://`. Options in `options` win over the URL's query string.
 */
export function createChannelLayer(url?: string, options: LayerOptions & Record<string, unknown> = {}): BundledChannelLayer {
  const raw = url ?? process.env.CHANNEL_LAYER_URL ?? "memory://";
  let parsed: URL;
  try {
    parsed = new URL(clusterNodesToQuery(raw));
  } catch {
    throw new TypeError(`channel layer URL ${JSON.stringify(raw)} is not a URL; known schemes: ${Object.keys(BACKENDS).map((s) => s + "//").join(", ")}`);
  }
  const factory = BACKENDS[parsed.protocol];
  if (factory === undefined) {
    throw new TypeError(
      `unknown channel layer scheme "${parsed.protocol}" in ${JSON.stringify(raw)}; known schemes: ${Object.keys(BACKENDS).map((s) => s + "//").join(", ")}`,
    );
  }
  return factory(parsed, { ...queryOptions(parsed), ...options });
}
