import { afterAll, describe, expect, it } from "vitest";
import { ChannelFullError, LayerClosedError } from "../../src/index.js";
import { cleanPrefix, makeLayer, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis");

const prefix = testPrefix();
afterAll(() => cleanPrefix(prefix));

describe("redis: stats() and options it cannot honour", () => {
  it("reports what this process knows: its buffers, waiting receives and own counters", async () => {
    const a = makeLayer(prefix);
    const b = makeLayer(prefix);
    const mine = await a.newChannel();
    await b.send(mine, { type: "one" });
    await b.send(mine, { type: "two" });
    await b.send("stats.plain", { type: "three" });
    expect((await a.receive(mine)).type).toBe("one");
    expect((await a.receive("stats.plain")).type).toBe("three");
    const waiting = a.receive("stats.idle");
    // "two" stays in Redis: a receive pops only what it returns (SPEC §4.10).
    const s = await a.stats();
    expect(s).toMatchObject({ backend: "redis", scope: "process", messages: 0, waitingReceivers: 1, counters: { received: 2 } });
    expect(s.groups).toBeUndefined(); // lives in Redis, shared: not counted here
    expect((await b.stats()).counters).toMatchObject({ sent: 3, received: 0, groupSends: 0 });
    // A refused send is not a sent one; a receive on b of "two" is a received one.
    const small = makeLayer(prefix, { capacity: 1 });
    await small.send("stats.full", { type: "fits" });
    await expect(small.send("stats.full", { type: "refused" })).rejects.toBeInstanceOf(ChannelFullError);
    await small.groupAdd("stats.g", "stats.full");
    await small.groupSend("stats.g", { type: "skipped, full" });
    expect((await small.stats()).counters).toMatchObject({ sent: 1, received: 0, groupSends: 1 });
    await small.close();
    await b.send("stats.idle", { type: "wake" });
    expect((await waiting).type).toBe("wake");
    await Promise.all([a.close(), b.close()]);
    await expect(a.stats()).rejects.toBeInstanceOf(LayerClosedError);
  });

  it("counts what a full local buffer of a ! channel drops (droppedOverflow): the loss is never silent", async () => {
    const a = makeLayer(prefix, { capacity: 2 }); // the receiver: y's local buffer holds 2
    const b = makeLayer(prefix, { capacity: 3 }); // the sender: a's shared key may hold 3
    const [x, y] = [await a.newChannel(), await a.newChannel()];
    // Every ! channel of `a` shares one key in Redis (as in channels_redis): a receive on x
    // pops what stands before x's message, and y's messages wait in a's local buffer.
    for (let round = 0; round < 2; round++) {
      await b.send(y, { type: "y", round, n: 1 });
      await b.send(y, { type: "y", round, n: 2 });
      await b.send(x, { type: "x" });
      expect((await a.receive(x)).type).toBe("x"); // y's two go to the local buffer on the way
    }
    const { counters } = await a.stats();
    expect(counters.droppedOverflow).toBe(2);
    // What is kept is the newest: y's buffer never holds more than its capacity.
    const kept = [await a.receive(y), await a.receive(y)];
    expect(kept.map((m) => m.round)).toEqual([1, 1]);
    await Promise.all([a.close(), b.close()]);
  });

  it("refuses traffic options Python peers could not honour, naming them", () => {
    expect(() => makeLayer(prefix, { rateLimits: { "a*": "5/s" } })).toThrow(/rateLimits is not available on Redis/);
    expect(() => makeLayer(prefix, { deadLetters: "dead" })).toThrow(/deadLetters is not available on Redis/);
    expect(() => makeLayer(prefix, { overflow: { "*": "drop-oldest" } })).toThrow(TypeError);
    expect(() => makeLayer(prefix, { channelPriority: { "*": 3 } })).toThrow(TypeError);
  });

  it("refuses a priority on send, since channels_redis has none", async () => {
    const layer = makeLayer(prefix);
    expect(layer.extensions).not.toContain("priority");
    await expect(layer.send("stats.p", { type: "t" }, { priority: 5 })).rejects.toThrow(/does not honour priorities/);
    await layer.close();
  });
});
