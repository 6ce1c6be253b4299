import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { RedisChannelLayer, type RedisLayerOptions } from "../../src/redis/layer.js";

/**
 * The shared Redis the tests run against (CI starts it; tests fail, not skip, without it). Database 9 by
 * default, so a developer's own data in database 0 never meets test keys; sharding tests use 10-15.
 */
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379/9";

/** A key prefix no other test run uses; every key a test makes starts with it. */
/** Why a conformance case cannot hold on the Redis layer (one server or a cluster), one reason per capability. */
export const REDIS_LACKS = {
  trafficControl: "channels_redis' Redis layout has no priorities, rate limits, overflow policies or dead letters",
} as const;

export function testPrefix(): string {
  return `asgitest${randomBytes(6).toString("hex")}`;
}

/** The URL of database `db` on the shared server (sharding tests use 10-15). */
export function dbUrl(db: number): string {
  const url = new URL(REDIS_URL);
  url.pathname = `/${db}`;
  return url.toString();
}

export function makeLayer(prefix: string, options: RedisLayerOptions = {}): RedisChannelLayer {
  return new RedisChannelLayer({ hosts: [REDIS_URL], prefix, connectionLostTimeout: 3000, ...options });
}

/** Delete every key under `prefix` in the given databases (SCAN, never FLUSHDB). */
export async function cleanPrefix(prefix: string, urls: string[] = [REDIS_URL]): Promise<void> {
  for (const url of urls) {
    const client = new Redis(url);
    try {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        if (keys.length) await client.del(...keys);
      } while (cursor !== "0");
    } finally {
      client.disconnect();
    }
  }
}

/** Keys under `prefix`, sorted. */
export async function keysUnder(prefix: string, url = REDIS_URL): Promise<string[]> {
  const client = new Redis(url);
  try {
    return (await client.keys(`${prefix}*`)).sort();
  } finally {
    client.disconnect();
  }
}
