/**
 * What the pub/sub layer keeps of the contract on its own buffers, for a
 * channel it listens on: FIFO, capacity and expiry, cancellation losing
 * nothing, idle channels released; and what it does with what Redis hands it
 * (garbage, oversized messages). The conformance suite skips these cases for
 * pub/sub because it sends before anyone listens; here someone listens first.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { createChannelLayer, type RedisPubSubLayerOptions } from "../../src/index.js";
import { RedisPubSubChannelLayer } from "../../src/redis/pubsub/layer.js";
import { drain, expectEmpty, fresh, sleep, tryReceive } from "../conformance/helpers.js";
import { makePubSub, REDIS_URL, testPrefix } from "./helpers.js";
import { needs } from "../services.js";
import { waitFor } from "../wait.js";

await needs("redis");

const prefix = testPrefix();

describe("pub/sub layer buffers", () => {
  const open: Array<{ close(): Promise<void> | void }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });
  function make(options: RedisPubSubLayerOptions = {}): RedisPubSubChannelLayer {
    const layer = makePubSub(prefix, options);
    open.push(layer);
    return layer;
  }
  function raw(): Redis {
    const client = new Redis(REDIS_URL);
    open.push({ close: () => client.disconnect() });
    return client;
  }

  it("keeps FIFO for a burst from another layer and delivers each message once", async () => {
    const [a, b] = [make({ capacity: 1000 }), make()];
    const ch = await a.newChannel();
    await Promise.all(Array.from({ length: 300 }, (_, i) => b.send(ch, { type: "n", i })));
    const got = await Promise.all(Array.from({ length: 300 }, () => a.receive(ch)));
    expect(got.map((m) => m.i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    await expectEmpty(a, ch);
  });

  it("round-trips every value type through Redis", async () => {
    const layer = make();
    const ch = await layer.newChannel();
    const message = { type: "v", big: 2n ** 62n, negBig: -(2n ** 63n), wide: 2 ** 40, f: 3.25, s: "✓", b: new Uint8Array([1, 2]), n: null, l: [1, { x: [] }] };
    await layer.send(ch, message);
    const got = await layer.receive(ch);
    expect({ ...got, b: [...(got.b as Uint8Array)] }).toEqual({ ...message, b: [1, 2] });
  });

  it("a full buffer drops what arrives and counts it; channelCapacity patterns apply", async () => {
    const receiver = make({ capacity: 3, channelCapacity: { "wide.*": 5 } });
    const sender = make();
    const ch = await receiver.newChannel();
    for (let i = 0; i < 5; i++) await sender.send(ch, { type: "n", i });
    const wide = `wide.${fresh("w")}`;
    await receiver.listen(wide);
    await receiver.send(wide, { type: "warm" });
    for (let i = 0; i < 6; i++) await sender.send(wide, { type: "n", i });
    await waitFor("four messages dropped as overflow", async () => (await receiver.stats()).counters.droppedOverflow === 2 + 2);
    expect((await drain(receiver, ch, 3)).map((m) => m.i)).toEqual([0, 1, 2]);
    expect((await drain(receiver, wide, 5)).map((m) => m.i ?? m.type)).toEqual(["warm", 0, 1, 2, 3]);
    const stats = await receiver.stats();
    expect(stats.counters.droppedOverflow).toBe(2 + 2);
  });

  it("a message not received within expiry is gone, exactly, and counted", async () => {
    const layer = make({ expiry: 0.2 });
    const ch = await layer.newChannel();
    const waiting = layer.receive(ch); // keeps the channel listened on (an idle one is released after the expiry)
    await layer.send(ch, { type: "first" });
    expect((await waiting).type).toBe("first");
    await layer.send(ch, { type: "old" });
    await sleep(150);
    await layer.send(ch, { type: "new" });
    await sleep(100); // "old" is 250 ms old, "new" 100 ms
    expect((await layer.receive(ch)).type).toBe("new");
    await expectEmpty(layer, ch);
    expect((await layer.stats()).counters.expired).toBe(1);
  });

  it("receives cancelled at random moments lose and duplicate nothing", async () => {
    const layer = make({ capacity: Infinity });
    const sender = make();
    const ch = await layer.newChannel();
    const total = 300;
    const seen: number[] = [];
    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        await sender.send(ch, { type: "n", i });
        if (i % 7 === 0) await sleep(0);
      }
    })();
    while (seen.length < total) {
      const controller = new AbortController();
      const pending = layer.receive(ch, { signal: controller.signal });
      const when = seen.length % 3;
      if (when === 0) controller.abort();
      else if (when === 1) queueMicrotask(() => controller.abort());
      else setTimeout(() => controller.abort(), 0);
      try {
        seen.push((await pending).i as number);
      } catch (err) {
        expect((err as Error).name).toBe("AbortError");
        const m = await tryReceive(layer, ch, 200);
        if (m) seen.push(m.i as number);
      }
    }
    await sending;
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  it("several layers receiving on one normal channel each get every message (pub/sub fan-out, declared)", async () => {
    const [a, b, sender] = [make(), make(), make()];
    const ch = fresh("everyone");
    const got = [a.receive(ch), b.receive(ch)];
    const admin = raw();
    await waitFor("two subscribers of the channel", async () => ((await admin.pubsub("NUMSUB", ch)) as [string, number])[1] === 2);
    await sender.send(ch, { type: "both" });
    expect((await Promise.all(got)).map((m) => m.type)).toEqual(["both", "both"]);
  });

  it("stops listening on a channel idle for longer than the expiry (no subscription leak)", async () => {
    const layer = make({ expiry: 0.1 });
    const admin = raw();
    const ch = fresh("idle");
    const mine = await layer.newChannel();
    await tryReceive(layer, ch, 30);
    await waitFor("one subscriber of the channel", async () => ((await admin.pubsub("NUMSUB", ch)) as [string, number])[1] === 1);
    const since = Date.now();
    await waitFor("no subscriber of the channel", async () => ((await admin.pubsub("NUMSUB", ch)) as [string, number])[1] === 0);
    expect(Date.now() - since).toBeGreaterThanOrEqual(50);
    // A ! channel too, unless a receive waits on it: a consumer's loop keeps its channel.
    const kept = await layer.newChannel();
    const waiting = layer.receive(kept);
    await waitFor("no subscriber of the process-local channel", async () => ((await admin.pubsub("NUMSUB", mine)) as [string, number])[1] === 0);
    await sleep(150);
    expect(await admin.pubsub("NUMSUB", kept)).toEqual([kept, 1]);
    expect((await layer.stats()).channels).toBe(1);
    await layer.send(kept, { type: "still" });
    expect((await waiting).type).toBe("still");
  });

  it("fails one receive for each published body that is no message, drops oversized ones, counts both, and keeps working", async () => {
    const layer = make({ maxMessageBytes: 1000 });
    const admin = raw();
    const ch = await layer.newChannel();
    await admin.publish(ch, Buffer.from([0xc1, 0xff, 0x00]));
    await admin.publish(ch, Buffer.from("not msgpack at all"));
    await admin.publish(ch, Buffer.from([0x93, 1, 2, 3])); // an array, not a message
    await admin.publish(ch, Buffer.concat([Buffer.from([0x82, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa1, 0x74, 0xa1, 0x78, 0xc5, 0x07, 0xd0]), Buffer.alloc(2000)]));
    await layer.send(ch, { type: "fine" });
    for (let i = 0; i < 3; i++) await expect(layer.receive(ch)).rejects.toMatchObject({ name: "InvalidMessageError" });
    expect((await layer.receive(ch)).type).toBe("fine");
    expect(layer.droppedMessages).toBe(4);
  });

  it("groupAdd of another layer's ! channel is refused, saying where memberships live", async () => {
    const [a, b] = [make(), make()];
    const ch = await a.newChannel();
    await expect(b.groupAdd("g", ch)).rejects.toThrow(/layer that made the channel/);
  });

  it("is made from redis+pubsub:// and rediss+pubsub:// URLs", async () => {
    const layer = createChannelLayer(`${REDIS_URL.replace("redis:", "redis+pubsub:")}?prefix=${prefix}&capacity=7`);
    open.push(layer);
    expect(layer).toBeInstanceOf(RedisPubSubChannelLayer);
    expect((layer as RedisPubSubChannelLayer).prefix).toBe(prefix);
    const ch = await layer.newChannel();
    expect(ch.startsWith(`${prefix}specific.`)).toBe(true);
    await layer.send(ch, { type: "url" });
    expect((await layer.receive(ch)).type).toBe("url");
    const tls = createChannelLayer("rediss+pubsub://127.0.0.1:1/0?connectionLostTimeout=200");
    open.push(tls);
    expect(tls).toBeInstanceOf(RedisPubSubChannelLayer);
    expect(() => createChannelLayer("redis+pubsub://127.0.0.1:6379?colour=blue")).toThrow(/unknown option "colour"/);
    expect(() => createChannelLayer("redis+pubsub://127.0.0.1:6379?connectionLostTimeout=soon")).toThrow(/must be a number/);
  });
  it("flush empties buffers and memberships but keeps newChannel channels listening", async () => {
    const layer = make();
    const admin = raw();
    const mine = await layer.newChannel();
    const plain = fresh("flushed");
    await layer.groupAdd("flushroom", mine);
    await layer.listen(plain);
    await layer.send(mine, { type: "gone" });
    await waitFor("one message held", async () => (await layer.stats()).messages === 1);
    await layer.flush();
    expect(await layer.stats()).toMatchObject({ messages: 0, groups: 0, members: 0 });
    expect(await admin.pubsub("NUMSUB", mine, plain, `${prefix}__group__flushroom`)).toEqual([mine, 1, plain, 0, `${prefix}__group__flushroom`, 0]);
    await layer.send(mine, { type: "after" });
    expect((await layer.receive(mine)).type).toBe("after");
  });
});
