/** What the receive loop does beyond the conformance suite, on the real Redis. */
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import type { RedisChannelLayer, RedisLayerOptions } from "../../src/redis/layer.js";
import { sleep } from "../conformance/helpers.js";
import { keyTtlMs } from "../../src/redis/ttl.js";
import { cleanPrefix, dbUrl, makeLayer, REDIS_URL, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis");

const prefix = testPrefix();
const raw = new Redis(REDIS_URL);
afterAll(async () => {
  await cleanPrefix(prefix);
  raw.disconnect();
});

describe("receive loop", () => {
  const open: RedisChannelLayer[] = [];
  const make = (options: RedisLayerOptions = {}): RedisChannelLayer => {
    const layer = makeLayer(prefix, { capacity: Infinity, ...options });
    open.push(layer);
    return layer;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
  });

  it("a receive pops only the member it returns: the rest stay in Redis, counted, for any consumer", async () => {
    const a = make();
    const b = make();
    const ch = `ahead-${Date.now()}`;
    for (let i = 0; i < 5; i++) await a.send(ch, { type: "n", i });
    expect((await a.receive(ch)).i).toBe(0);
    expect(await raw.zcard(`${prefix}${ch}`)).toBe(4);
    expect((await b.receive(ch)).i).toBe(1);
    expect((await a.receive(ch)).i).toBe(2);
    expect((await a.stats()).messages).toBe(0);
  });

  it("with readAheadOutsideRedis, members popped ahead go back to the head when nobody takes them", async () => {
    const a = make({ readAheadOutsideRedis: true, receiveLinger: 0 });
    const b = make();
    const ch = `ahead-out-${Date.now()}`;
    for (let i = 0; i < 5; i++) await a.send(ch, { type: "n", i });
    expect((await a.receive(ch)).i).toBe(0);
    await sleep(50); // a's loop puts its unclaimed extra back
    expect(await raw.zcard(`${prefix}${ch}`)).toBe(4);
    expect((await b.receive(ch)).i).toBe(1);
    await sleep(50);
    expect((await a.receive(ch)).i).toBe(2);
  });

  it("with readAheadOutsideRedis over several shards, each member popped ahead goes back to its own shard", async () => {
    const hosts = [dbUrl(10), dbUrl(11), dbUrl(12)];
    const shards = hosts.map((url) => new Redis(url));
    try {
      const a = make({ hosts, readAheadOutsideRedis: true, receiveLinger: 0 });
      const ch = `shards-${Date.now()}`;
      for (let i = 0; i < 30; i++) await a.send(ch, { type: "n", i });
      const membersOf = async (r: Redis): Promise<string[]> => (await r.zrangeBuffer(`${prefix}${ch}`, 0, -1)).map((b) => b.toString("hex"));
      const before = await Promise.all(shards.map(membersOf));
      expect(before.filter((m) => m.length > 0).length).toBeGreaterThan(1); // the sends did spread over the shards
      // A consumer looping briefly makes its window grow, so pops bring extras from every shard; then it stops.
      for (let i = 0; i < 6; i++) await a.receive(ch);
      // The loops put back what nobody took.
      let after: string[][] = [];
      await vi.waitFor(async () => {
        after = await Promise.all(shards.map(membersOf));
        expect(after.flat()).toHaveLength(24);
      });
      after.forEach((members, shard) => {
        for (const m of members) expect(before[shard]).toContain(m);
      });
    } finally {
      await cleanPrefix(prefix, hosts);
      for (const r of shards) r.disconnect();
    }
  });

  it("a consumer looping on receive takes the members popped ahead without losing order", async () => {
    const layer = make();
    const ch = `loop-${Date.now()}`;
    for (let i = 0; i < 300; i++) await layer.send(ch, { type: "n", i });
    const got: number[] = [];
    for (let i = 0; i < 300; i++) got.push((await layer.receive(ch)).i as number);
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i));
    await sleep(20);
    expect(await raw.exists(`${prefix}${ch}`)).toBe(0);
  });

  it("a burst of sends keeps its order even when the clock does not move: every score is a later microsecond", async () => {
    const layer = make();
    const ch = `burst-${Date.now()}`;
    // A frozen clock: each score must still be one microsecond past the one before, after rounding to six decimals.
    const frozen = performance.now();
    const clock = vi.spyOn(performance, "now").mockReturnValue(frozen);
    let sent: Promise<void>[];
    try {
      sent = Array.from({ length: 300 }, (_, i) => layer.send(ch, { type: "n", i }));
    } finally {
      clock.mockRestore();
    }
    await Promise.all(sent);
    const scores = (await raw.zrange(`${prefix}${ch}`, 0, -1, "WITHSCORES")).filter((_, k) => k % 2 === 1);
    expect(new Set(scores).size).toBe(300);
    const got = [];
    for (let i = 0; i < 300; i++) got.push((await layer.receive(ch)).i);
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it("gives a $inflight key left by a Python receiver a TTL, and leaves one that has a TTL alone", async () => {
    const layer = make();
    const ch = `inflight-${Date.now()}`;
    await raw.zadd(`${prefix}${ch}$inflight`, 1, "left behind by a dead Python process");
    await raw.zadd(`${prefix}${ch}2$inflight`, 1, "a live one");
    await raw.expire(`${prefix}${ch}2$inflight`, 5000);
    await layer.send(ch, { type: "x" });
    await layer.send(`${ch}2`, { type: "x" });
    await layer.receive(ch);
    await layer.receive(`${ch}2`);
    const ttl = await raw.pttl(`${prefix}${ch}$inflight`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(120_000);
    expect(await raw.ttl(`${prefix}${ch}2$inflight`)).toBeGreaterThan(4000);
  });

  it("drops a member older than expiry at receive even while its key lives on", async () => {
    const layer = make();
    const ch = `old-${Date.now()}`;
    // A member stamped 61 s ago, as a sender with a slow clock or a stalled Python purge leaves it.
    await raw.zadd(`${prefix}${ch}`, Date.now() / 1000 - 61, Buffer.concat([Buffer.alloc(12), Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa3, 0x6f, 0x6c, 0x64])]));
    await layer.send(ch, { type: "new" });
    expect((await layer.receive(ch)).type).toBe("new");
  });

  it("gives queue and group keys a TTL of twice the expiry, renewed only once a quarter of it has passed", async () => {
    const expiry = 60;
    const ttl = keyTtlMs(expiry);
    const layer = make({ expiry, groupExpiry: expiry });
    const encrypted = make({ expiry, symmetricEncryptionKeys: ["k"] }); // group sends in two halves
    const ch = `ttl-${Date.now()}`;
    const group = `${ch}-g`;
    const keys = [`${prefix}${ch}`, `${prefix}${ch}.m`, `${prefix}:group:${group}`];
    await layer.send(ch, { type: "x" });
    await layer.groupAdd(group, `${ch}.m`);
    await layer.groupSend(group, { type: "x" });
    for (const key of keys) expect(await raw.pttl(key)).toBeGreaterThan(ttl - 5000);
    // Three quarters left: left alone. Less, or the shorter TTL a Python sender sets: renewed.
    for (const [left, renewed] of [[0.8 * ttl, false], [expiry * 1000, true]] as const) {
      for (const key of keys) await raw.pexpire(key, left);
      await layer.send(ch, { type: "x" });
      await layer.groupAdd(group, `${ch}.m`);
      await layer.groupSend(group, { type: "x" });
      await encrypted.groupSend(group, { type: "x" });
      for (const key of keys) {
        const pttl = await raw.pttl(key);
        if (renewed) expect(pttl).toBeGreaterThan(ttl - 5000);
        else expect(pttl).toBeLessThanOrEqual(left);
      }
    }
  });

  describe("linger after a served receive (readAheadOutsideRedis)", () => {
    const key = (ch: string): string => `${prefix}${ch}`;

    /** `a` received once and lingers; `b` then sent 1 and 2, and a's standing BZPOPMIN took 1 as it landed. */
    async function lingering(receiveLinger: number): Promise<{ a: RedisChannelLayer; b: RedisChannelLayer; ch: string }> {
      const a = make({ readAheadOutsideRedis: true, receiveLinger });
      const b = make();
      const ch = `linger-${receiveLinger}-${Date.now()}`;
      await b.send(ch, { type: "n", i: 0 });
      expect((await a.receive(ch)).i).toBe(0);
      await b.send(ch, { type: "n", i: 1 });
      await b.send(ch, { type: "n", i: 2 });
      await sleep(30);
      expect(await raw.zcard(key(ch))).toBe(1);
      return { a, b, ch };
    }

    it("keeps popping the channel for a while, then puts what nobody took back at the head for other processes", async () => {
      const { b, ch } = await lingering(100);
      await sleep(150);
      expect(await raw.zcard(key(ch))).toBe(2);
      expect((await b.receive(ch)).i).toBe(1);
      expect((await b.receive(ch)).i).toBe(2);
    });

    it("hands a consumer that receives again within it the member already popped, in order", async () => {
      const { a, ch } = await lingering(200);
      expect((await a.receive(ch)).i).toBe(1);
      expect((await a.receive(ch)).i).toBe(2);
      expect(await raw.exists(key(ch))).toBe(0);
    });

    it("does not linger after a cancelled receive, nor when turned off", async () => {
      const a = make({ readAheadOutsideRedis: true, receiveLinger: 1000 });
      const off = make({ readAheadOutsideRedis: true, receiveLinger: 0 });
      const b = make();
      const ch = `linger-off-${Date.now()}`;
      await expect(a.receive(ch, { signal: AbortSignal.timeout(20) })).rejects.toThrow();
      await b.send(ch, { type: "n", i: 0 });
      expect((await off.receive(ch)).i).toBe(0);
      await b.send(ch, { type: "n", i: 1 });
      await sleep(30);
      expect(await raw.zcard(key(ch))).toBe(1);
    });

    it("puts a held member back when the layer closes", async () => {
      const a = make({ readAheadOutsideRedis: true, receiveLinger: 10_000 });
      const b = make();
      const ch = `linger-close-${Date.now()}`;
      await b.send(ch, { type: "n", i: 0 });
      await a.receive(ch);
      await b.send(ch, { type: "n", i: 1 });
      await sleep(30);
      expect(await raw.zcard(key(ch))).toBe(0);
      await a.close();
      expect(await raw.zcard(key(ch))).toBe(1);
      expect((await b.receive(ch)).i).toBe(1);
    });

    it("refuses a negative or non-numeric linger, and any linger without readAheadOutsideRedis", () => {
      expect(() => make({ readAheadOutsideRedis: true, receiveLinger: -1 })).toThrow(RangeError);
      expect(() => make({ readAheadOutsideRedis: true, receiveLinger: Number.NaN })).toThrow(/receiveLinger/);
      expect(() => make({ receiveLinger: 10 })).toThrow(/receiveLinger .* needs readAheadOutsideRedis: true/);
      expect(() => make({ readAheadOutsideRedis: "yes" as unknown as boolean })).toThrow(/readAheadOutsideRedis must be true or false/);
      make({ receiveLinger: 0 });
    });
  });
});
