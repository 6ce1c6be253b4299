/**
 * The broker's shared reply cache (docs/request.md), split in equal shares,
 * one per token: what a token writes fills and evicts only its own share, so
 * a tenant filling the cache pushes out its own answers, never another's.
 * Every share is read by every lookup: a cached answer is anyone's to read
 * whose token may send to its channel.
 */
import { DEFAULT_CACHE_ENTRIES, MemoryReplyCache, type StoredReply } from "../request/cache.js";
import type { ReplyCacheStats } from "../stats.js";
import type { Grant } from "./auth.js";

export class ReplyShares {
  private readonly shares = new Map<Grant, MemoryReplyCache>();

  /** `count`: how many tokens (distinct grants) may write, each getting 1/count of both bounds. */
  constructor(
    readonly maxBytes: number,
    private readonly count: number,
    readonly maxEntries: number = DEFAULT_CACHE_ENTRIES,
  ) {}

  /** The live entry under `key`, in whichever share holds it. */
  lookup(key: string): StoredReply | undefined {
    for (const share of this.shares.values()) {
      const entry = share.lookup(key);
      if (entry !== undefined) return entry;
    }
    return undefined;
  }

  /** Store a reply in the share of the token that wrote it. */
  setEncoded(owner: Grant, key: string, bytes: Buffer, seconds: number): void {
    let share = this.shares.get(owner);
    if (share === undefined) {
      share = new MemoryReplyCache(this.maxBytes / this.count, Date.now, Math.max(1, Math.floor(this.maxEntries / this.count)));
      this.shares.set(owner, share);
    }
    share.setEncoded(key, bytes, seconds);
  }

  get evictions(): number {
    let n = 0;
    for (const share of this.shares.values()) n += share.evictions;
    return n;
  }

  stats(): ReplyCacheStats {
    let entries = 0;
    let bytes = 0;
    for (const share of this.shares.values()) {
      const s = share.stats();
      entries += s.entries;
      bytes += s.bytes;
    }
    return { entries, bytes, maxBytes: this.maxBytes, evictions: this.evictions };
  }

  clear(): void {
    for (const share of this.shares.values()) share.clear();
  }
}
