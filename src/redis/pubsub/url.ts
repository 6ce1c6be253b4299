/**
 * `redis+pubsub://[:password@]host[:port][/db][?prefix=asgi&expiry=60…]` and
 * `rediss+pubsub://…` (TLS) for createChannelLayer: the same server part as
 * `redis://`, read by ioredis once the `+pubsub` is taken off.
 */
import type { LayerOptions } from "../../layer.js";
import { RedisPubSubChannelLayer, type RedisPubSubLayerOptions } from "./layer.js";

/** Query keys only this backend understands. */
export const PUBSUB_QUERY_OPTIONS = ["prefix", "connectionLostTimeout", "sharded"] as const;

export function pubsubFromUrl(url: URL, options: LayerOptions & Record<string, unknown>): RedisPubSubChannelLayer {
  const fromQuery: RedisPubSubLayerOptions = {};
  const prefix = url.searchParams.get("prefix");
  if (prefix !== null) fromQuery.prefix = prefix;
  const timeout = url.searchParams.get("connectionLostTimeout");
  if (timeout !== null) {
    const n = Number(timeout);
    if (timeout.trim() === "" || Number.isNaN(n)) throw new TypeError(`option "connectionLostTimeout" in channel layer URL must be a number, got "${timeout}"`);
    fromQuery.connectionLostTimeout = n;
  }
  const sharded = url.searchParams.get("sharded");
  if (sharded !== null) {
    if (sharded !== "true" && sharded !== "false") throw new TypeError(`option "sharded" in channel layer URL must be true or false, got "${sharded}"`);
    fromQuery.sharded = sharded === "true";
  }
  // "redis+pubsub://h:1/0" → "redis://h:1/0": the URL parser keeps the authority of a non-special scheme as is.
  const server = url.href.replace(/^(rediss?)\+pubsub:/, "$1:").replace(/\?.*$/, "");
  return new RedisPubSubChannelLayer({ hosts: [server], ...fromQuery, ...(options as RedisPubSubLayerOptions) });
}
