/**
 * The reply cache's ring (src/request/cache.ts) against a model: a Map kept
 * in least-recently-used order under the same two bounds. After every step
 * the ring's live entries are read straight out of it, oldest first, and
 * compared with the model's. Bodies small next to the byte bound never
 * fragment the ring past compaction, so the two agree exactly; bodies up to
 * the whole bound may make the ring evict its oldest early, so there every
 * entry it holds must be the last one stored under its key, within the bounds.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ENTRY_OVERHEAD, MemoryReplyCache } from "../../src/request/cache.js";

/**
 * Mostly a few hot keys, written and read over and over, with cold ones
 * between them that stay put: the hot ones leave holes behind the cold, so
 * the ring fills with them and is compacted or grown.
 */
const key = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: fc.integer({ min: 3, max: 200 }) });

/** `size` is in bytes up to `maxBody`, or (the second test) thousandths of the largest body the bound takes. */
const op = (maxBody: number) =>
  fc.oneof(
    { weight: 50, arbitrary: fc.record({ kind: fc.constant("set" as const), key, size: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: maxBody })), ttl: fc.integer({ min: 1, max: 30 }) }) },
    { weight: 40, arbitrary: fc.record({ kind: fc.constant("get" as const), key }) },
    { weight: 10, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 3000 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) },
  );

/** The body stored under `key` in its `version`-th set: every byte says which. */
const bodyOf = (key: number, version: number, size: number): Buffer => Buffer.alloc(size, (key * 31 + version) & 0xff);

interface Stored {
  key: string;
  bytes: Buffer;
  storedAt: number;
  expiresAt: number;
}

/**
 * What the cache holds, one line an entry, oldest first, read from its own
 * slots and ring (its private fields: this test looks inside). A body is
 * shown by its length and first and last bytes: where bodies are placed
 * wrong, a neighbour's end or start is overwritten.
 */
function contents(cache: MemoryReplyCache): string[] {
  const c = cache as unknown as { keys: Array<string | undefined>; at: Uint32Array; lengths: Uint32Array; storedAts: Float64Array; expiresAts: Float64Array; ring: Buffer; first: number; used: number };
  const out: string[] = [];
  for (let i = 0; i < c.used; i++) {
    const slot = (c.first + i) % c.keys.length;
    const key = c.keys[slot];
    if (key === undefined) continue;
    const [at, length] = [c.at[slot]!, c.lengths[slot]!];
    out.push(line(key, length, c.ring[at], c.ring[at + length - 1], c.storedAts[slot]!, c.expiresAts[slot]!));
  }
  return out;
}

const line = (key: string, length: number, firstByte: number | undefined, lastByte: number | undefined, storedAt: number, expiresAt: number): string =>
  `${key} ${length} ${length === 0 ? "-" : firstByte} ${length === 0 ? "-" : lastByte} ${storedAt} ${expiresAt}`;

const lineOf = ({ key, bytes, storedAt, expiresAt }: Stored): string => line(key, bytes.length, bytes[0], bytes[bytes.length - 1], storedAt, expiresAt);

const cost = (key: string, bytes: Buffer): number => key.length + bytes.length + ENTRY_OVERHEAD;

const RUNS = { numRuns: 200, endOnFailure: true }; // shrinking 400 steps takes minutes: the first failure is reported as found

describe("the reply cache's ring (property)", () => {
  it("keeps and evicts exactly what a least-recently-used map under the same bounds would", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 2000, max: 40_000 }), fc.array(op(200), { minLength: 50, maxLength: 400 }), (maxEntries, maxBytes, ops) => {
        let now = 1_000_000;
        const cache = new MemoryReplyCache(maxBytes, () => now, maxEntries);
        const model = new Map<string, Stored>();
        let modelBytes = 0;
        let evictions = 0;
        let version = 0;
        const drop = (key: string): void => {
          modelBytes -= cost(key, model.get(key)!.bytes);
          model.delete(key);
        };
        for (const o of ops) {
          if (o.kind === "advance") now += o.ms;
          else if (o.kind === "clear") {
            cache.clear();
            model.clear();
            modelBytes = 0;
          } else if (o.kind === "set") {
            const key = `c:${o.key}`;
            const bytes = bodyOf(o.key, ++version, o.size);
            cache.setEncoded(key, bytes, o.ttl);
            if (model.has(key)) drop(key);
            while (modelBytes + cost(key, bytes) > maxBytes || model.size >= maxEntries) {
              const [oldest, entry] = model.entries().next().value!;
              if (entry.expiresAt > now) evictions++;
              drop(oldest);
            }
            model.set(key, { key, bytes, storedAt: now, expiresAt: now + o.ttl * 1000 });
            modelBytes += cost(key, bytes);
          } else {
            const key = `c:${o.key}`;
            const got = cache.lookup(key);
            const want = model.get(key);
            if (want !== undefined) drop(key);
            if (want === undefined || want.expiresAt <= now) expect(got).toBeUndefined();
            else {
              expect(got).toEqual({ bytes: want.bytes, storedAt: want.storedAt });
              model.set(key, want);
              modelBytes += cost(key, want.bytes);
            }
          }
          expect(cache.stats()).toEqual({ entries: model.size, bytes: modelBytes, maxBytes, evictions });
          expect(contents(cache)).toEqual([...model.values()].map(lineOf));
        }
      }),
      RUNS,
    );
  });

  it("with bodies up to the whole bound, holds only the last body stored under each key, within both bounds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 400, max: 5000 }), fc.array(op(1000), { minLength: 50, maxLength: 300 }), (maxEntries, maxBytes, ops) => {
        let now = 1_000_000;
        const cache = new MemoryReplyCache(maxBytes, () => now, maxEntries);
        const latest = new Map<string, Buffer>();
        let version = 0;
        for (const o of ops) {
          if (o.kind === "advance") now += o.ms;
          else if (o.kind === "clear") cache.clear();
          else if (o.kind === "set") {
            // Up to a little more than the largest body the bound takes (never stored: what was stored under its key stays).
            const size = Math.floor((o.size / 1000) * (maxBytes - ENTRY_OVERHEAD));
            const bytes = bodyOf(o.key, ++version, size);
            cache.setEncoded(`c:${o.key}`, bytes, o.ttl);
            if (cost(`c:${o.key}`, bytes) <= maxBytes) latest.set(`c:${o.key}`, bytes);
          } else {
            const got = cache.lookup(`c:${o.key}`);
            if (got !== undefined) expect(got.bytes.equals(latest.get(`c:${o.key}`)!)).toBe(true);
          }
          const held = contents(cache);
          for (const entry of held) {
            const key = entry.split(" ")[0]!;
            const body = latest.get(key)!;
            expect(entry.split(" ").slice(1, 4)).toEqual(lineOf({ key, bytes: body, storedAt: 0, expiresAt: 0 }).split(" ").slice(1, 4));
          }
          const { entries, bytes } = cache.stats();
          expect(entries).toBe(held.length);
          expect(bytes).toBe(held.reduce((sum, entry) => sum + cost(entry.split(" ")[0]!, latest.get(entry.split(" ")[0]!)!), 0));
          expect(entries).toBeLessThanOrEqual(maxEntries);
          expect(bytes).toBeLessThanOrEqual(maxBytes);
        }
      }),
      RUNS,
    );
  });
});
