/**
 * `request(…, { cacheFor })` on Redis (docs/request.md): a cached reply is a
 * key with a TTL, `{prefix}:request-cache:{request key}`, shared by every Node
 * process on the same Redis. Python peers never read these keys. Values go
 * through the layer's serializer, so they are encrypted when messages are.
 */
import type { Message } from "../layer.js";
import type { CachedReply, ReplyCache } from "../request/cache.js";
import { NotAMessage } from "../client/not-a-message.js";
import type { Shard } from "./connections.js";
import type { Serializer } from "./serializer.js";
import { consistentHash } from "./sharding.js";

export class RedisReplyCache implements ReplyCache {
  constructor(
    private readonly prefix: string,
    private readonly shards: readonly Shard[],
    private readonly serializer: Serializer,
  ) {}

  private where(key: string): { shard: Shard; name: string } {
    const name = `${this.prefix}:request-cache:${key}`;
    return { shard: this.shards[consistentHash(name, this.shards.length)]!, name };
  }

  async get(key: string): Promise<CachedReply | undefined> {
    const { shard, name } = this.where(key);
    const raw = await shard.commands.getBuffer(name).catch((err: unknown) => Promise.reject(shard.fail(err)));
    if (raw === null) return undefined;
    const stored = this.serializer.decode(raw);
    if (stored instanceof NotAMessage) return undefined; // unreadable (a key rotated away): a miss
    return { reply: stored.reply as Message, storedAt: stored.storedAt as number };
  }

  async set(key: string, reply: Message, seconds: number): Promise<void> {
    const { shard, name } = this.where(key);
    const value = this.serializer.encode({ type: "request.cached", storedAt: Date.now(), reply });
    await shard.commands.set(name, value, "PX", Math.max(1, Math.round(seconds * 1000))).catch((err: unknown) => Promise.reject(shard.fail(err)));
  }
}
