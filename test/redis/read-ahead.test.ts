/**
 * SPEC §4.10 on Redis, with the default options: nothing a receive fetches
 * ahead may be observed by another client, ours or Python's channels_redis. Capacity counted in Redis plus what
 * this process holds never exceeds the limit, order holds across two layers,
 * a cancelled receive leaves nothing outside Redis, and a consumer killed
 * mid-stream loses at most the message in hand.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ChannelFullError, type Message } from "../../src/index.js";
import type { RedisChannelLayer, RedisLayerOptions } from "../../src/redis/layer.js";
import { sleep, tryReceive } from "../conformance/helpers.js";
import { cleanPrefix, makeLayer, REDIS_URL, testPrefix } from "./helpers.js";
import { PythonPeer } from "./python-peer.js";
import { needs } from "../services.js";
import { nodeArgs } from "../children.js";

await needs("redis", "python");

const prefix = testPrefix();
const raw = new Redis(REDIS_URL);
afterAll(async () => {
  await cleanPrefix(prefix);
  raw.disconnect();
});

const open: RedisChannelLayer[] = [];
const make = (options: RedisLayerOptions = {}): RedisChannelLayer => {
  const layer = makeLayer(prefix, { capacity: Infinity, ...options });
  open.push(layer);
  return layer;
};
const peers: PythonPeer[] = [];
afterEach(async () => {
  await Promise.all([...open.splice(0), ...peers.splice(0)].map((l) => l.close()));
});

let n = 0;
const fresh = (what: string): string => `ra.${what}.${process.pid}.${n++}`;

describe("redis: read-ahead is invisible (SPEC §4.10)", () => {
  /**
   * A sender retrying as fast as it can against `read` on a capacity-C
   * channel, while a sampler reads ZCARD and what the reader's layer holds
   * (stats().messages: members popped and not yet handed to a receive).
   * `read` takes its messages through `next()`, which first waits until the
   * sender has been refused since the last one: the channel is full each time
   * the reader takes a message, however loaded the machine. Returns the
   * largest sum sampled.
   */
  async function squeeze(read: (next: () => Promise<void>) => Promise<void>, python = false): Promise<{ most: number; samples: number }> {
    const C = 10;
    const reader = make({ capacity: C });
    const ch = fresh("cap");
    let send: (message: Message) => Promise<unknown>;
    let isFull: (err: unknown) => boolean;
    if (python) {
      const peer = await PythonPeer.start({ hosts: [REDIS_URL], prefix, capacity: C });
      peers.push(peer);
      send = (message) => peer.send(ch, message);
      isFull = (err) => (err as { python?: string }).python === "ChannelFull";
    } else {
      const sender = make({ capacity: C });
      send = (message) => sender.send(ch, message);
      isFull = (err) => err instanceof ChannelFullError;
    }
    let stop = false;
    let refused = false;
    const sending = (async () => {
      let i = 0;
      while (!stop) {
        try {
          await send({ type: "n", i });
          i++;
        } catch (err) {
          if (!isFull(err)) throw err;
          refused = true;
        }
      }
    })();
    let most = 0;
    let samples = 0;
    const sampling = (async () => {
      while (!stop) {
        const inRedis = await raw.zcard(`${prefix}${ch}`);
        const held = (await reader.stats()).messages;
        most = Math.max(most, inRedis + held);
        samples++;
      }
    })();
    try {
      await read(async () => {
        while (!refused) await sleep(1);
        refused = false;
        await reader.receive(ch);
      });
    } finally {
      stop = true;
      await Promise.all([sending, sampling]);
    }
    return { most, samples };
  }

  it("a slow reader (2 ms a message) against a fast sender: Redis plus held ahead never exceeds capacity", async () => {
    const { most, samples } = await squeeze(async (next) => {
      for (let i = 0; i < 100; i++) {
        await next();
        await sleep(2);
      }
    });
    expect(samples).toBeGreaterThan(100);
    expect(most).toBe(10); // full, never more
  });

  it("a Python channels_redis sender against a slow Node reader (10 ms a message): never over capacity", async () => {
    const { most } = await squeeze(async (next) => {
      for (let i = 0; i < 40; i++) {
        await next();
        await sleep(10);
      }
    }, true);
    expect(most).toBe(10);
  });

  it("a bursty reader (50 receives, then 20 ms idle) against a fast sender: never over capacity", async () => {
    const { most } = await squeeze(async (next) => {
      for (let burst = 0; burst < 4; burst++) {
        for (let i = 0; i < 50; i++) await next();
        await sleep(20);
      }
    });
    expect(most).toBe(10);
  });

  it("FIFO across two layers taking turns on one channel", async () => {
    const sender = make();
    const a = make();
    const b = make();
    const ch = fresh("fifo");
    for (let i = 0; i < 200; i++) await sender.send(ch, { type: "n", i });
    const got: number[] = [];
    for (let i = 0; i < 200; i++) got.push((await (i % 3 === 0 ? b : a).receive(ch)).i as number);
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // And while the sender keeps sending: every receive gets the head of the queue.
    const live = fresh("fifo-live");
    const seen: number[] = [];
    for (let i = 0; i < 300; i++) {
      await sender.send(live, { type: "n", i });
      if (i % 2 === 1) seen.push((await (i % 4 === 1 ? a : b).receive(live)).i as number);
    }
    expect(seen).toEqual(Array.from({ length: 150 }, (_, i) => i));
  });

  it("a receive cancelled while its pop is in flight leaves the message at the head before it rejects", async () => {
    const sender = make();
    const a = make();
    const b = make();
    const ch = fresh("abort");
    const N = 300;
    let sent = 0;
    const sending = (async () => {
      for (; sent < N; sent++) {
        await sender.send(ch, { type: "n", i: sent });
        if (sent % 10 === 0) await sleep(1);
      }
    })();
    // a's receives give up after 0-2 ms: many end while a member is on its way to them.
    const taken: number[] = [];
    let aborted = 0;
    const deadline = performance.now() + 10_000;
    while (taken.length < N && performance.now() < deadline) {
      try {
        taken.push((await a.receive(ch, { signal: AbortSignal.timeout(Math.floor(Math.random() * 3)) })).i as number);
      } catch (err) {
        expect((err as Error).name).toBe("TimeoutError");
        aborted++;
        // Once the abort has settled, nothing of a's is outside Redis: b gets the head.
        const next = await tryReceive(b, ch, 5);
        if (next) taken.push(next.i as number);
      }
    }
    await sending;
    for (let m: Message | undefined; (m = await tryReceive(b, ch, 1000)); ) taken.push(m.i as number);
    expect(aborted).toBeGreaterThan(0);
    expect(taken).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it("a consumer killed mid-stream (SIGKILL) loses at most the message in hand; a fresh consumer drains the rest", async () => {
    const sender = make();
    const ch = fresh("kill");
    const N = 3000;
    await Promise.all(Array.from({ length: N + 1 }, (_, i) => sender.send(ch, { type: "n", i })));
    const child = spawn(process.execPath, nodeArgs(new URL("./consumer-child.ts", import.meta.url)), {
      env: { ...process.env, REDIS_URL, CONSUMER_PREFIX: prefix, CONSUMER_CHANNEL: ch, CONSUMER_WORK: "0.2" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const handled = new Set<number>();
    const exited = new Promise((resolve) => child.once("exit", resolve));
    for await (const line of createInterface({ input: child.stdout })) {
      handled.add(Number(line));
      if (handled.size === 100) child.kill("SIGKILL");
    }
    await exited;
    const fresh2 = make();
    const drained: number[] = [];
    for (let m: Message | undefined; (m = await tryReceive(fresh2, ch, 2000)); ) drained.push(m.i as number);
    for (const i of drained) expect(handled.has(i)).toBe(false);
    const lost = N + 1 - handled.size - drained.length;
    expect(lost).toBeGreaterThanOrEqual(0);
    expect(lost).toBeLessThanOrEqual(1);
    expect(drained).toEqual([...drained].sort((x, y) => x - y));
  }, 60_000);
});

describe("a process-specific channel's receive that gives up", () => {
  it("leaves nothing outside Redis: a send right after it is counted against the capacity", async () => {
    const layer = make({ capacity: 3 });
    for (let round = 0; round < 20; round++) {
      const channel = await layer.newChannel("gaveup");
      // Long enough for the pop to stand on the process key; it is still there when the sends come.
      await expect(layer.receive(channel, { signal: AbortSignal.timeout(15) })).rejects.toThrow();
      for (let i = 0; i < 3; i++) await layer.send(channel, { type: "n", i });
      await expect(layer.send(channel, { type: "n", i: 3 })).rejects.toBeInstanceOf(ChannelFullError);
      const got = [];
      for (let i = 0; i < 3; i++) got.push((await layer.receive(channel, { signal: AbortSignal.timeout(2000) })).i);
      expect(got).toEqual([0, 1, 2]);
    }
  });
});
