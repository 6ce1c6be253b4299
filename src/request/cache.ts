/**
 * The reply cache behind `request(…, { cacheFor })` (docs/request.md): equal
 * requests — same channel, same message after canonical encoding, without
 * its `reply_channel` — are answered from here for `cacheFor` seconds.
 */
import { createHash } from "node:crypto";
import type { Message, MessageValue } from "../layer.js";
import { InvalidMessageError } from "../errors.js";
import { MAX_MESSAGE_DEPTH } from "../message.js";
import { decodeMessage, encodeMessage } from "../dependencies/msgpack.js";
import type { ReplyCacheStats } from "../stats.js";

/** A cached reply and when it was stored (ms since the epoch), for HTTP's `Age`. */
export interface CachedReply {
  reply: Message;
  storedAt: number;
}

export interface ReplyCache {
  get(key: string): Promise<CachedReply | undefined>;
  set(key: string, reply: Message, seconds: number): Promise<void>;
}


/** Default byte bound of an in-process reply cache. */
export const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
/** Default bound on the number of entries. */
export const DEFAULT_CACHE_ENTRIES = 65_536;
/**
 * What an entry costs beyond its key's characters and its reply's bytes: the
 * Map slot, the entry object, the Buffer object and the key string's header.
 * Measured on Node 22 with 300k tiny entries: 322 bytes of heap each besides
 * the 8-byte bodies (55 counted without this), so counted bytes track heap
 * bytes (0.93 of them) and RSS (1.4×) instead of a sixth of them (docs/request.md).
 */
export const ENTRY_OVERHEAD = 300;

/**
 * Keys sorted at every depth, so `{a, b}` and `{b, a}` encode alike. It runs
 * before `send` checks the message, so it refuses what send would: nesting
 * past the limit (a 200k-deep JSON body would overflow the stack here).
 */
function canonical(value: MessageValue, depth = 0): MessageValue {
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (depth > MAX_MESSAGE_DEPTH) throw new InvalidMessageError(`the message nests deeper than ${MAX_MESSAGE_DEPTH} levels`);
  if (Array.isArray(value)) return value.map((item) => canonical(item, depth + 1));
  const out: Record<string, MessageValue> = {};
  for (const key of Object.keys(value).sort()) out[key] = canonical(value[key]!, depth + 1);
  return out;
}

/** `channel` plus a digest of the canonical message less its `reply_channel`. */
export function cacheKey(channel: string, message: Message): string {
  const { reply_channel: _replyChannel, ...rest } = message;
  const digest = createHash("sha256").update(encodeMessage(canonical(rest) as Message)).digest("base64url");
  return `${channel}:${digest}`;
}

interface Entry {
  bytes: Buffer;
  storedAt: number;
  expiresAt: number;
}

/** What an entry under `key` holding `bytes` is counted at. */
const costOf = (key: string, bytes: Buffer): number => key.length + bytes.length + ENTRY_OVERHEAD;

/**
 * An LRU bounded in bytes and in entries (a Map keeps insertion order: a hit
 * moves its entry to the end, eviction takes from the front). Replies are
 * stored encoded, so every hit hands out a fresh copy that its caller may mutate.
 */
export class MemoryReplyCache implements ReplyCache {
  private readonly entries = new Map<string, Entry>();
  /**
   * Where eviction goes on: every entry before it is gone (evicted, or moved
   * to the end by a hit). A new iterator from the front would skip every
   * deleted slot again, each time, until the Map rehashes: measured 50 µs an
   * eviction at 55k entries, a stall a filler could buy a million times over.
   */
  private cursor: MapIterator<[string, Entry]> | undefined;
  private bytes = 0;
  evictions = 0;

  constructor(
    readonly maxBytes: number = DEFAULT_CACHE_BYTES,
    private readonly now: () => number = Date.now,
    readonly maxEntries: number = DEFAULT_CACHE_ENTRIES,
  ) {
    if (!(maxBytes > 0)) throw new RangeError(`the reply cache's byte bound must be positive, got ${maxBytes}`);
    if (!(maxEntries >= 1)) throw new RangeError(`the reply cache's entry bound must be at least 1, got ${maxEntries}`);
  }

  get(key: string): Promise<CachedReply | undefined> {
    const entry = this.lookup(key);
    return Promise.resolve(entry && { reply: decodeMessage(entry.bytes), storedAt: entry.storedAt });
  }

  set(key: string, reply: Message, seconds: number): Promise<void> {
    this.setEncoded(key, encodeMessage(reply), seconds);
    return Promise.resolve();
  }

  /** The live entry under `key`, moved to the young end; an expired one is dropped. */
  lookup(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.now()) {
      this.bytes -= costOf(key, entry.bytes);
      return undefined;
    }
    this.entries.set(key, entry);
    return entry;
  }

  setEncoded(key: string, bytes: Buffer, seconds: number): void {
    const size = costOf(key, bytes);
    if (size > this.maxBytes) return; // larger than the whole cache: never stored
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.bytes -= costOf(key, old.bytes);
    }
    while (this.bytes + size > this.maxBytes || this.entries.size >= this.maxEntries) this.evictOldest();
    const now = this.now();
    this.entries.set(key, { bytes, storedAt: now, expiresAt: now + seconds * 1000 });
    this.bytes += size;
  }

  stats(): ReplyCacheStats {
    return { entries: this.entries.size, bytes: this.bytes, maxBytes: this.maxBytes, evictions: this.evictions };
  }

  clear(): void {
    this.entries.clear();
    this.cursor = undefined;
    this.bytes = 0;
  }

  private evictOldest(): void {
    let next = this.cursor?.next();
    if (next === undefined || next.done === true) {
      this.cursor = this.entries.entries();
      next = this.cursor.next();
    }
    const [key, entry] = next.value as [string, Entry];
    this.entries.delete(key);
    this.bytes -= costOf(key, entry.bytes);
    if (entry.expiresAt > this.now()) this.evictions++;
  }
}
