/** What the receive loop does beyond the conformance suite, on the real Redis. */
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { RedisChannelLayer } from "../../src/redis/layer.js";
import { sleep } from "../conformance/helpers.js";
import { cleanPrefix, makeLayer, REDIS_URL, testPrefix } from "./helpers.js";

const prefix = testPrefix();
const raw = new Redis(REDIS_URL);
afterAll(async () => {
  await cleanPrefix(prefix);
  raw.disconnect();
});

describe("receive loop", () => {
  const open: RedisChannelLayer[] = [];
  const make = (): RedisChannelLayer => {
    const layer = makeLayer(prefix, { capacity: Infinity });
    open.push(layer);
    return layer;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
  });

  it("members popped ahead for a receive go back to the head when nobody takes them", async () => {
    const a = make();
    const b = make();
    const ch = `ahead-${Date.now()}`;
    for (let i = 0; i < 5; i++) await a.send(ch, { type: "n", i });
    expect((await a.receive(ch)).i).toBe(0);
    await sleep(50); // a's loop puts its unclaimed extra back
    expect(await raw.zcard(`${prefix}${ch}`)).toBe(4);
    expect((await b.receive(ch)).i).toBe(1);
    await sleep(50);
    expect((await a.receive(ch)).i).toBe(2);
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
});
