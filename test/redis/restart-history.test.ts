/**
 * Group history across a Redis restart that lost it (our own redis-server,
 * no persistence, killed and started again): a resume from before is told
 * `recovered: false` with a new epoch, on the core layer and on pub/sub, and
 * history goes on in that epoch.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ChannelLayer } from "../../src/index.js";
import { RedisChannelLayer } from "../../src/redis/layer.js";
import { RedisPubSubChannelLayer } from "../../src/redis/pubsub/layer.js";
import { OwnRedis } from "./own-redis.js";
import { needs } from "../services.js";

await needs("redis-server");

const groupHistory = { "room.*": { size: 100, ttl: 60 } };

describe("group history across a Redis restart", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const kinds: Array<[string, (url: string) => ChannelLayer & { close(): Promise<void> }]> = [
    ["redis", (url) => new RedisChannelLayer({ hosts: [url], connectionLostTimeout: 10_000, groupHistory })],
    ["redis pub/sub", (url) => new RedisPubSubChannelLayer({ hosts: [url], connectionLostTimeout: 10_000, groupHistory })],
  ];

  for (const [kind, make] of kinds) {
    it(`${kind}: a resume from before the restart is recovered: false in a new epoch`, async () => {
      const redis = await OwnRedis.start();
      cleanups.push(() => redis.kill());
      const layer = make(redis.url);
      cleanups.push(() => layer.close());
      for (let n = 1; n <= 3; n++) await layer.groupSend("room.r", { type: "n", n });
      const before = (await layer.groupHistory!("room.r")).position;
      expect(before.offset).toBe(3);

      await redis.kill();
      await redis.start();
      await layer.groupSend("room.r", { type: "n", n: 4 });
      const after = await layer.groupHistory!("room.r", { since: before });
      expect(after.recovered).toBe(false);
      expect(after.messages).toEqual([]);
      expect(after.position.epoch).not.toBe(before.epoch);
      expect(after.position.offset).toBe(1);
      const fresh = await layer.groupHistory!("room.r", { since: { epoch: after.position.epoch, offset: 0 } });
      expect(fresh.recovered).toBe(true);
      expect(fresh.messages.map((m) => m.message.n)).toEqual([4]);
    }, 30_000);
  }
});
