/**
 * `redis://[:password@]host[:port][/db][?prefix=asgi&expiry=60…]` and
 * `rediss://…` (TLS) for createChannelLayer. The numeric layer options come
 * from the shared query parsing in src/url.ts; the Redis-only ones are read here.
 */
import type { LayerOptions } from "../layer.js";
import { RedisChannelLayer, type RedisLayerOptions } from "./layer.js";

/** Query keys only the Redis backend understands. */
export const REDIS_QUERY_OPTIONS = ["prefix", "connectionLostTimeout", "receiveLinger", "readAheadOutsideRedis"] as const;

/** The numeric ones, read as numbers (the layer checks their range). */
const NUMERIC = ["connectionLostTimeout", "receiveLinger"] as const;

export function redisFromUrl(url: URL, options: LayerOptions & Record<string, unknown>): RedisChannelLayer {
  const server = new URL(url.href);
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
  server.search = "";
  return new RedisChannelLayer({ hosts: [server.href], ...fromQuery, ...(options as RedisLayerOptions) });
}
