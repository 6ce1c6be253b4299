/**
 * Redis restarted, or the socket dropped, under a running pub/sub layer: it
 * says so (state), subscribes again to everything it listens on, and then
 * reports the gap (SPEC §5). Our own redis-server, never the shared one.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { RedisPubSubChannelLayer } from "../../src/redis/pubsub/layer.js";
import type { LayerGap, LayerState } from "../../src/layer.js";
import { sleep } from "../conformance/helpers.js";
import { OwnRedis } from "../redis/own-redis.js";
import { needs } from "../services.js";
import { waitFor } from "../wait.js";

await needs("redis-server");

/** `promise`, or an error naming `what` after `ms`: a step that stalls fails by name, not at the test's timeout. */
async function step<T>(what: string, promise: Promise<T>, ms = 8000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`stalled: ${what}`)), ms)));
  try {
    return await Promise.race([promise, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

describe("pub/sub layer across a Redis restart", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(): Promise<{ redis: OwnRedis; layer: RedisPubSubChannelLayer; states: LayerState[]; gaps: LayerGap[] }> {
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.kill());
    const layer = new RedisPubSubChannelLayer({ hosts: [redis.url], prefix: "t", connectionLostTimeout: 2000 });
    cleanups.push(() => layer.close());
    const states: LayerState[] = [];
    const gaps: LayerGap[] = [];
    layer.on("state", (s) => states.push(s));
    layer.on("gap", (g) => gaps.push(g));
    return { redis, layer, states, gaps };
  }

  it("goes ready, reconnecting on a restart, resubscribes its channels and groups, then reports one gap", async () => {
    const { redis, layer, states, gaps } = await setup();
    const mine = await layer.newChannel();
    await layer.groupAdd("room", mine);
    const worker = layer.receive("jobs"); // a normal channel, subscribed by its receive
    await waitFor("ready", () => layer.state === "ready", { timeout: 8000 });
    expect(states).toEqual(["ready"]);

    await redis.kill();
    await waitFor("reconnecting", () => layer.state === "reconnecting", { timeout: 8000 });
    await redis.start();
    await waitFor("ready again", () => layer.state === "ready", { timeout: 8000 });
    expect(states).toEqual(["ready", "reconnecting", "ready"]);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.reason).toBe("redis-restarted");
    expect(Math.abs(gaps[0]!.at - Date.now())).toBeLessThan(10_000);

    // The restarted server knows nothing; the layer subscribed again before the gap, so every path works at once.
    const other = new RedisPubSubChannelLayer({ hosts: [redis.url], prefix: "t" });
    cleanups.push(() => other.close());
    await other.send(mine, { type: "direct" });
    await other.groupSend("room", { type: "fanned" });
    await other.send("jobs", { type: "job" });
    expect((await layer.receive(mine)).type).toBe("direct");
    expect((await layer.receive(mine)).type).toBe("fanned");
    expect((await worker).type).toBe("job");
  });

  it("a dropped socket (CLIENT KILL) is a gap too, and nothing is subscribed twice", async () => {
    const { redis, layer, gaps } = await setup();
    const mine = await layer.newChannel();
    await waitFor("ready", () => layer.state === "ready", { timeout: 8000 });
    const admin = new Redis(redis.url);
    cleanups.push(async () => void admin.disconnect());
    await admin.client("KILL", "TYPE", "pubsub");
    await waitFor("gap", () => gaps.length === 1, { timeout: 8000 });
    expect(layer.state).toBe("ready");
    expect(await admin.pubsub("NUMSUB", mine)).toEqual([mine, 1]);
    await admin.publish(mine, Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa1, 0x78])); // msgpack {"type": "x"}
    expect((await layer.receive(mine)).type).toBe("x");
  });

  it("a receive waiting through the outage gets what is sent after it", async () => {
    const { redis, layer, gaps } = await setup();
    const ch = await layer.newChannel();
    await waitFor("ready", () => layer.state === "ready", { timeout: 8000 });
    const waiting = layer.receive(ch);
    await redis.kill();
    await sleep(100);
    await redis.start();
    await waitFor("gap", () => gaps.length === 1, { timeout: 8000 });
    const sender = new Redis(redis.url);
    cleanups.push(async () => void sender.disconnect());
    await sender.publish(ch, Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa1, 0x79]));
    expect((await waiting).type).toBe("y");
  });

  it("a send while Redis is down rejects with ConnectionLostError after connectionLostTimeout", async () => {
    const { redis, layer } = await setup();
    await waitFor("ready", () => layer.state === "ready", { timeout: 8000 });
    await redis.kill();
    const started = Date.now();
    await expect(layer.send("somewhere", { type: "t" })).rejects.toMatchObject({ code: "ERR_CONNECTION_LOST" });
    expect(Date.now() - started).toBeLessThan(6000);
  });
  it("over two shards, one restarted: it resubscribes there and reports the gap once", async () => {
    const servers = [await step("starting redis", OwnRedis.start()), await step("starting redis", OwnRedis.start())];
    for (const s of servers) cleanups.push(() => s.kill());
    const layer = new RedisPubSubChannelLayer({ hosts: servers.map((s) => s.url), prefix: "t", connectionLostTimeout: 2000 });
    cleanups.push(() => layer.close());
    const gaps: LayerGap[] = [];
    layer.on("gap", (g) => gaps.push(g));
    const names: string[] = [];
    while (new Set(names.map((n) => layer.shardOf(n))).size < 2) names.push(await step("newChannel", layer.newChannel()));
    await waitFor("ready", () => layer.state === "ready", { timeout: 8000 });
    await step("killing redis", servers[1]!.kill());
    await waitFor("reconnecting", () => layer.state === "reconnecting", { timeout: 8000 });
    await step("restarting redis", servers[1]!.start());
    await waitFor("gap", () => gaps.length === 1, { timeout: 8000 });
    expect(layer.state).toBe("ready");
    const sender = new RedisPubSubChannelLayer({ hosts: servers.map((s) => s.url), prefix: "t" });
    cleanups.push(() => sender.close());
    for (const name of names) await step(`send to ${name}`, sender.send(name, { type: "after", name }));
    for (const name of names) {
      const message = await step(`receive on ${name} (shard ${layer.shardOf(name)}) after the gap`, layer.receive(name));
      expect(message).toEqual({ type: "after", name });
    }
    await sleep(50);
    expect(gaps).toHaveLength(1);
  });
});
