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

/** A cached reply's bytes and when it was stored, as the broker hands it out. */
export interface StoredReply {
  bytes: Buffer;
  storedAt: number;
}

/** What an entry under `key` holding `length` bytes is counted at. */
const costOf = (key: string, length: number): number => key.length + length + ENTRY_OVERHEAD;

/** Slots and ring bytes a new cache starts with; both double as entries come. */
const FIRST_SLOTS = 64;
const FIRST_RING_BYTES = 4096;

/** The smallest power of two at least `n`. */
const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * An LRU bounded in bytes and in entries, that keeps no object of its own
 * per entry: a filler churning hundreds of thousands of entries a second
 * made garbage that had lived long enough to reach the old generation, and
 * the collector's pauses were what other clients waited for (docs/security.md).
 * Replies' bytes are copied one after another into a ring of bytes, and each
 * entry's figures into typed arrays at a slot; slots are used in ring order,
 * so the oldest slot holds the oldest bytes, and eviction takes both from the
 * tail. A Map finds a key's slot. A hit moves its entry to the young end (its
 * bytes copied there), leaving a hole where it was; holes are given back when
 * the tail reaches them, or by a compaction once they are most of the ring.
 * Every hit hands out a fresh copy, which its caller may keep and mutate.
 */
export class MemoryReplyCache implements ReplyCache {
  private readonly index = new Map<string, number>();
  /** Per slot: its key (undefined for a hole), where its bytes are in `ring`, how many, when stored and when it expires. */
  private keys: Array<string | undefined> = new Array<string | undefined>(FIRST_SLOTS);
  private at = new Uint32Array(FIRST_SLOTS);
  private lengths = new Uint32Array(FIRST_SLOTS);
  private storedAts = new Float64Array(FIRST_SLOTS);
  private expiresAts = new Float64Array(FIRST_SLOTS);
  /** The oldest slot, and how many slots from it on are taken (holes included). */
  private first = 0;
  private used = 0;
  private ring = Buffer.allocUnsafe(FIRST_RING_BYTES);
  /** Where the next entry's bytes go. */
  private head = 0;
  /** Live entries, their bytes in the ring, and what they are counted at. */
  private size = 0;
  private held = 0;
  private bytes = 0;
  /** At most: slots (twice the entries, so that a compaction always frees half) and ring bytes. */
  private readonly maxSlots: number;
  private readonly maxRing: number;
  evictions = 0;

  constructor(
    readonly maxBytes: number = DEFAULT_CACHE_BYTES,
    private readonly now: () => number = Date.now,
    readonly maxEntries: number = DEFAULT_CACHE_ENTRIES,
  ) {
    if (!(maxBytes > 0)) throw new RangeError(`the reply cache's byte bound must be positive, got ${maxBytes}`);
    if (!(maxEntries >= 1)) throw new RangeError(`the reply cache's entry bound must be at least 1, got ${maxEntries}`);
    this.maxSlots = pow2(2 * Math.min(maxEntries, 2 ** 30));
    // Offsets are 32-bit: a ring of 4 GiB at most.
    this.maxRing = Math.min(Math.floor(maxBytes), 2 ** 32 - 1);
  }

  get(key: string): Promise<CachedReply | undefined> {
    const entry = this.lookup(key);
    return Promise.resolve(entry && { reply: decodeMessage(entry.bytes), storedAt: entry.storedAt });
  }

  set(key: string, reply: Message, seconds: number): Promise<void> {
    this.setEncoded(key, encodeMessage(reply), seconds);
    return Promise.resolve();
  }

  /** A copy of the live entry under `key`, which moves to the young end; an expired one is dropped. */
  lookup(key: string): StoredReply | undefined {
    const slot = this.index.get(key);
    if (slot === undefined) return undefined;
    const storedAt = this.storedAts[slot]!;
    const expiresAt = this.expiresAts[slot]!;
    if (expiresAt <= this.now()) {
      this.remove(slot);
      return undefined;
    }
    const from = this.at[slot]!;
    const bytes = Buffer.allocUnsafe(this.lengths[slot]!);
    this.ring.copy(bytes, 0, from, from + bytes.length);
    if (slot !== ((this.first + this.used - 1) & (this.keys.length - 1))) {
      this.remove(slot);
      this.append(key, bytes, storedAt, expiresAt);
    }
    return { bytes, storedAt };
  }

  setEncoded(key: string, bytes: Buffer, seconds: number): void {
    const cost = costOf(key, bytes.length);
    if (cost > this.maxBytes || bytes.length > this.maxRing) return; // larger than the whole cache: never stored
    const old = this.index.get(key);
    if (old !== undefined) this.remove(old);
    while (this.bytes + cost > this.maxBytes || this.size >= this.maxEntries) this.evictOldest();
    const now = this.now();
    this.append(key, bytes, now, now + seconds * 1000);
  }

  stats(): ReplyCacheStats {
    return { entries: this.size, bytes: this.bytes, maxBytes: this.maxBytes, evictions: this.evictions };
  }

  clear(): void {
    this.index.clear();
    this.keys.fill(undefined);
    this.first = this.used = this.head = 0;
    this.size = this.held = this.bytes = 0;
  }

  /** Store an entry at the young end: the caller has made room in the bounds. */
  private append(key: string, bytes: Buffer, storedAt: number, expiresAt: number): void {
    if (this.used === this.keys.length) this.moreSlots();
    const from = this.place(Math.max(1, bytes.length)); // a byte at least, so that a full ring is never taken for an empty one
    bytes.copy(this.ring, from);
    const slot = (this.first + this.used++) & (this.keys.length - 1);
    this.keys[slot] = key;
    this.at[slot] = from;
    this.lengths[slot] = bytes.length;
    this.storedAts[slot] = storedAt;
    this.expiresAts[slot] = expiresAt;
    this.index.set(key, slot);
    this.size++;
    this.held += bytes.length;
    this.bytes += costOf(key, bytes.length);
  }

  /** Take the entry at `slot` out, leaving a hole (the tail moves past holes at once). */
  private remove(slot: number): void {
    const key = this.keys[slot]!;
    this.index.delete(key);
    this.keys[slot] = undefined;
    this.size--;
    this.held -= this.lengths[slot]!;
    this.bytes -= costOf(key, this.lengths[slot]!);
    const mask = this.keys.length - 1;
    while (this.used > 0 && this.keys[this.first] === undefined) {
      this.first = (this.first + 1) & mask;
      this.used--;
    }
    if (this.used === 0) this.first = this.head = 0;
  }

  private evictOldest(): void {
    const slot = this.first;
    if (this.expiresAts[slot]! > this.now()) this.evictions++;
    this.remove(slot);
  }

  /** Where `need` bytes go in the ring: room at the head or from its start, else made by compacting, growing or evicting. */
  private place(need: number): number {
    for (;;) {
      const ring = this.ring.length;
      if (this.used === 0) {
        if (need <= ring) return this.advance(0, need);
      } else {
        const tail = this.at[this.first]!;
        if (this.head > tail) {
          if (ring - this.head >= need) return this.advance(this.head, need);
          if (tail >= need) return this.advance(0, need);
        } else if (tail - this.head >= need) return this.advance(this.head, need);
      }
      // No room means holes and the gap at the end take more than `ring - 2 * need`: with what lives
      // and `need` within half the ring, compacting frees at least as many bytes as it copies.
      if (this.held + need <= ring / 2) this.rebuild(this.keys.length, ring);
      else if (ring < this.maxRing) this.rebuild(this.keys.length, Math.min(this.maxRing, pow2(4 * (this.held + need))));
      else this.evictOldest(); // at full size, fragmented: the oldest go, as the bounds would have them go next
    }
  }

  private advance(from: number, need: number): number {
    this.head = from + need;
    return from;
  }

  /** Every slot is taken: compact if half are holes, else double them (there are never more than twice maxEntries). */
  private moreSlots(): void {
    const slots = this.keys.length;
    this.rebuild(this.size <= slots / 2 ? slots : Math.min(this.maxSlots, 2 * slots), this.ring.length);
  }

  /** Copy the live entries, oldest first, into `slots` slots and a ring of `ringBytes`: no holes left. */
  private rebuild(slots: number, ringBytes: number): void {
    const keys = new Array<string | undefined>(slots);
    const at = new Uint32Array(slots);
    const lengths = new Uint32Array(slots);
    const storedAts = new Float64Array(slots);
    const expiresAts = new Float64Array(slots);
    const ring = ringBytes === this.ring.length && this.used === 0 ? this.ring : Buffer.allocUnsafe(ringBytes);
    const mask = this.keys.length - 1;
    let n = 0;
    let head = 0;
    for (let i = 0; i < this.used; i++) {
      const slot = (this.first + i) & mask;
      const key = this.keys[slot];
      if (key === undefined) continue;
      const length = this.lengths[slot]!;
      this.ring.copy(ring, head, this.at[slot], this.at[slot]! + length);
      keys[n] = key;
      at[n] = head;
      lengths[n] = length;
      storedAts[n] = this.storedAts[slot]!;
      expiresAts[n] = this.expiresAts[slot]!;
      this.index.set(key, n++);
      head += Math.max(1, length);
    }
    this.keys = keys;
    this.at = at;
    this.lengths = lengths;
    this.storedAts = storedAts;
    this.expiresAts = expiresAts;
    this.ring = ring;
    this.first = 0;
    this.used = n;
    this.head = head;
  }
}
