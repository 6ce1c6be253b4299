import { describe, expect, it } from "vitest";
import { CapacityRules } from "../../src/options/capacity.js";
import { Engine } from "../../src/engine/engine.js";
import { HistoryRules } from "../../src/options/history.js";
import type { GroupHistoryOptions, HistoryPosition } from "../../src/layer.js";
import { decodeMessage, encodeMessage } from "../../src/dependencies/msgpack.js";
import { stampEncoded } from "../../src/protocol/history.js";
import { InMemoryChannelLayer } from "../../src/memory.js";
import { resolveTraffic } from "../../src/options/traffic.js";
import { TestClock } from "../../src/testing/clock.js";

/** Bodies are [value, position?] pairs, so tests see what was stamped. */
type Body = { n: number; at?: HistoryPosition };

function makeEngine(clock: TestClock, history: GroupHistoryOptions, maxStoredBytes?: number): Engine<Body> {
  return new Engine<Body>({
    expiry: 60,
    groupExpiry: 86_400,
    capacity: new CapacityRules(100, undefined),
    clock: clock.now,
    size: () => 100,
    maxStoredBytes,
    history: { rules: new HistoryRules(history), stamp: (body, at) => ({ ...body, at }) },
  });
}

describe("engine: group history", () => {
  it("keeps the newest `size`, drops by ttl on the engine's clock, and a sweep reclaims an empty ring after another ttl", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { "g*": { size: 3, ttl: 10 } });
    for (let n = 1; n <= 5; n++) engine.groupSend("g1", { n });
    const read = engine.groupHistory("g1", undefined);
    expect(read.messages.map((m) => m.message.n)).toEqual([3, 4, 5]);
    expect(read.messages.map((m) => m.message.at)).toEqual(read.messages.map((m) => m.position));
    expect(engine.storedBytes).toBe(300);
    clock.advance(10_000);
    engine.sweep();
    expect(engine.storedBytes).toBe(0);
    expect(engine.historyStats()).toEqual({ groups: 1, messages: 0 });
    // Nothing was missed since offset 5: still recoverable while the ring is kept.
    expect(engine.groupHistory("g1", read.position)).toMatchObject({ recovered: true, messages: [] });
    clock.advance(10_001);
    engine.sweep();
    expect(engine.historyStats()).toEqual({ groups: 0, messages: 0 });
    const after = engine.groupHistory("g1", read.position);
    expect(after.recovered).toBe(false);
    expect(after.position.epoch).not.toBe(read.position.epoch);
  });

  it("keeps who each send left out through the ring's growth and trims, counts their names in the stored bytes, and leaves those sends out of their reads", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { "g*": { size: 20, ttl: 10 } });
    const start = engine.groupHistory("g1", undefined).position;
    // More than the ring's first 8 slots: the except sets move with the bodies when it grows, and wrap after trims.
    for (let n = 1; n <= 25; n++) engine.groupSend("g1", { n }, undefined, n % 3 === 0 ? new Set(["a.x!1"]) : undefined);
    const excepted = [6, 9, 12, 15, 18, 21, 24];
    expect(engine.storedBytes).toBe(20 * 100 + excepted.length * "a.x!1".length);
    const since = { epoch: start.epoch, offset: 5 };
    const forA = engine.groupHistory("g1", since, Infinity, Infinity, "a.x!1");
    expect(forA.recovered).toBe(true);
    expect(forA.messages.map((m) => m.message.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 6).filter((n) => !excepted.includes(n)));
    expect(engine.groupHistory("g1", since, Infinity, Infinity, "b.y!1").messages).toHaveLength(20);
    clock.advance(10_000);
    engine.sweep();
    expect(engine.storedBytes).toBe(0);
  });

  it("counts history in maxStoredBytes: a group's oldest make room, and past that a message is delivered but not kept", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { "g*": { size: 100, ttl: 60 } }, 350);
    engine.groupAdd("g1", "member");
    for (let n = 1; n <= 3; n++) engine.groupSend("g1", { n });
    // 3 kept (300 bytes): the members' copies no longer fit beside them.
    expect(engine.size("member")).toBe(1);
    expect(engine.groupHistory("g1", undefined).messages.map((m) => m.message.n)).toEqual([2, 3]);
    expect(engine.storedBytes).toBe(300);
    engine.groupSend("g3", { n: 7 }); // no room even with its own ring empty
    const g3 = engine.groupHistory("g3", undefined);
    expect(g3.position.offset).toBe(1);
    expect(g3.messages).toEqual([]);
    expect(engine.groupHistory("g3", { epoch: g3.position.epoch, offset: 0 }).recovered).toBe(false);
    expect(engine.groupHistory("g3", g3.position).recovered).toBe(true);
  });

  it("a rate-limited group send is not recorded; a group send to no members is", () => {
    const clock = new TestClock(1_000);
    const engine = new Engine<Body>({
      expiry: 60,
      groupExpiry: 86_400,
      capacity: new CapacityRules(100, undefined),
      clock: clock.now,
      traffic: resolveTraffic({ rateLimits: { g1: { rate: "1/h", burst: 1 } } }),
      history: { rules: new HistoryRules({ "g*": { size: 10, ttl: 60 } }), stamp: (body, at) => ({ ...body, at }) },
    });
    engine.groupSend("g2", { n: 1 });
    expect(engine.groupHistory("g2", undefined).position.offset).toBe(1);
    engine.groupAdd("g1", "m");
    engine.groupSend("g1", { n: 1 });
    engine.groupSend("g1", { n: 2 }); // over the group's rate
    expect(engine.groupHistory("g1", undefined).messages.map((m) => m.message.n)).toEqual([1]);
  });

  it("checks the option: a bad size or ttl is a RangeError, a bad shape a TypeError", () => {
    expect(() => new InMemoryChannelLayer({ groupHistory: { "a*": { size: 0, ttl: 1 } } })).toThrow(RangeError);
    expect(() => new InMemoryChannelLayer({ groupHistory: { "a*": { size: 1.5, ttl: 1 } } })).toThrow(/groupHistory\[a\*\]\.size/);
    expect(() => new InMemoryChannelLayer({ groupHistory: { "a*": { size: 1, ttl: -1 } } })).toThrow(RangeError);
    expect(() => new InMemoryChannelLayer({ groupHistory: { "a*": { size: 1 } } as never })).toThrow(TypeError);
    expect(() => new InMemoryChannelLayer({ groupHistory: { "a*": 5 } as never })).toThrow(TypeError);
    expect(() => new InMemoryChannelLayer({ groupHistory: 5 as never })).toThrow(TypeError);
  });

  it("memory: members' copies and read results are copies, the kept message is the history's own", async () => {
    const layer = new InMemoryChannelLayer({ groupHistory: { "g*": { size: 10, ttl: 60 } } });
    await layer.groupAdd("g1", "a");
    await layer.groupAdd("g1", "b");
    const sent = { type: "t", list: [1] };
    await layer.groupSend("g1", sent);
    const a = await layer.receive("a");
    (a.list as number[]).push(2);
    const read = await layer.groupHistory("g1");
    expect(read.messages[0]!.message.list).toEqual([1]);
    (read.messages[0]!.message.list as number[]).push(3);
    expect((await layer.groupHistory("g1")).messages[0]!.message.list).toEqual([1]);
    expect((await layer.receive("b")).list).toEqual([1]);
    expect(sent).toEqual({ type: "t", list: [1] });
    await layer.close();
  });
});

describe("stampEncoded: the position appended to an encoded map", () => {
  it("decodes to the message plus __position__, across the fixmap, map16 and map32 header sizes", () => {
    const at = { epoch: "e1", offset: 7 };
    for (const keys of [0, 1, 15, 16, 65_535, 65_536]) {
      const message: Record<string, number | string> = { type: "t" };
      for (let i = 1; i < keys; i++) message[`k${i}`] = i;
      const stamped = decodeMessage(stampEncoded(encodeMessage(message as never), at));
      expect(stamped).toEqual({ ...message, __position__: at });
    }
  });

  it("a sender's own __position__ is overridden by the recorded one; a body that is no map is kept as is", () => {
    const at = { epoch: "e2", offset: 1 };
    expect(decodeMessage(stampEncoded(encodeMessage({ type: "t", __position__: "forged" }), at)).__position__).toEqual(at);
    const notMap = encodeMessage([1, 2] as never);
    expect(stampEncoded(notMap, at)).toBe(notMap);
    expect(stampEncoded(Buffer.alloc(0), at).length).toBe(0);
  });
});
