import { describe, expect, it } from "vitest";
import { ChannelFullError } from "../../src/errors.js";
import type { GroupDelivery } from "../../src/engine/engine.js";
import { makeEngine, Recorder } from "./fixtures.js";
import { TestClock } from "../../src/testing/clock.js";

/** Sweep until nothing due is left; returns how many calls it took. */
function sweepAll(engine: ReturnType<typeof makeEngine>, budget = 1024): number {
  let calls = 1;
  while (engine.sweep(budget)) calls++;
  return calls;
}

describe("engine: expiry is exact and reclaimed", () => {
  it("a message is gone at its deadline, not a millisecond later", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { expiry: 10 });
    engine.send("a", 1);
    clock.advance(9_999);
    engine.send("a", 2);
    expect(engine.take("a")).toBe(1);
    clock.advance(1);
    engine.send("b", 3);
    clock.advance(10_000);
    expect(engine.take("b")).toBeUndefined();
    expect(engine.take("a")).toBeUndefined();
    expect(engine.counters.expired).toBe(2);
  });

  it("100,000 channels filled and left to expire leave no entry behind", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { expiry: 5, groupExpiry: 10 });
    for (let i = 0; i < 100_000; i++) {
      engine.send(`chan.${i}`, i);
      if (i % 10 === 0) engine.groupAdd(`group.${i % 1000}`, `chan.${i}`);
    }
    expect(engine.stats()).toMatchObject({ channels: 100_000, messages: 100_000, groups: 100, members: 10_000 });
    clock.advance(5_000);
    const calls = sweepAll(engine);
    expect(calls).toBeGreaterThan(50); // bounded slices, not one long sweep
    clock.advance(10_000); // past the idle grace and the membership expiry
    sweepAll(engine);
    expect(engine.stats()).toMatchObject({ channels: 0, messages: 0, waitingReceivers: 0, groups: 0, members: 0 });
    expect(engine.counters.expired).toBe(100_000);
  });

  it("one sweep call does about `budget` units of work at most", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { expiry: 1 });
    for (let i = 0; i < 10_000; i++) engine.send(`c${i}`, i);
    clock.advance(1_000);
    expect(engine.sweep(100)).toBe(true);
    // Each channel costs one unit plus its one expired message: ~50 channels per 100 units.
    expect(engine.stats().messages).toBeGreaterThanOrEqual(10_000 - 60);
    expect(engine.stats().messages).toBeLessThan(10_000);
  });

  it("a long queue that expires is reclaimed across several bounded sweeps", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { expiry: 1, capacity: Infinity });
    for (let i = 0; i < 50_000; i++) engine.send("long", i);
    clock.advance(1_000);
    expect(engine.sweep(1_000)).toBe(true);
    expect(engine.stats().messages).toBe(50_000 - 1_000);
    sweepAll(engine);
    expect(engine.stats().messages).toBe(0);
  });

  it("memberships expire without any groupSend, and groupAdd renews them", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { groupExpiry: 10 });
    engine.groupAdd("g", "old");
    engine.groupAdd("g", "renewed");
    clock.advance(6_000);
    engine.groupAdd("g", "renewed");
    clock.advance(5_000);
    sweepAll(engine);
    expect(engine.groupsOf("old")).toEqual([]);
    expect(engine.groupsOf("renewed")).toEqual(["g"]);
    expect(engine.stats().members).toBe(1);
    expect(engine.counters.membershipsExpired).toBe(1);
  });

  it("a group joined after a message expired keeps the channel (the old message is settled at the join)", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { expiry: 1 });
    engine.groupAdd("old", "c");
    engine.send("c", 1);
    clock.advance(1_000);
    engine.groupAdd("new", "c"); // "c" let a message expire: it leaves "old", then joins "new"
    engine.send("c", 2);
    expect(engine.groupsOf("c")).toEqual(["new"]);
    expect(engine.stats().groups).toBe(1);
    // Re-joining its only group after an expiry leaves a live group behind, not an orphan.
    engine.send("c", 3);
    clock.advance(1_000);
    engine.groupAdd("new", "c");
    expect(engine.groupSend("new", 4)).toEqual({ delivered: 1, skipped: 0 });
  });

  it("a channel that lets a message expire unread leaves all its groups", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { expiry: 1 });
    engine.groupAdd("g1", "dead");
    engine.groupAdd("g2", "dead");
    engine.groupAdd("g1", "alive");
    engine.send("dead", 1);
    clock.advance(1_000);
    expect(engine.groupSend("g1", 2)).toEqual({ delivered: 1, skipped: 0 });
    expect(engine.groupsOf("dead")).toEqual([]);
    expect(engine.stats().groups).toBe(1); // g2 had only "dead": gone
  });
});

describe("engine: receivers", () => {
  it("hands a message straight to the longest-waiting receiver", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock);
    const first = new Recorder();
    const second = new Recorder();
    engine.wait("c", first);
    engine.wait("c", second);
    engine.send("c", 1);
    engine.send("c", 2);
    expect(first.got.map(([b]) => b)).toEqual([1]);
    expect(second.got.map(([b]) => b)).toEqual([2]);
    expect(engine.stats().messages).toBe(0);
  });

  it("a receiver that can no longer take a message passes it on", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock);
    const gone = new Recorder(false);
    const live = new Recorder();
    engine.wait("c", gone);
    engine.wait("c", live);
    engine.send("c", 7);
    expect(live.got.map(([b]) => b)).toEqual([7]);
    engine.wait("d", new Recorder(false));
    engine.send("d", 8);
    expect(engine.take("d")).toBe(8);
  });

  it("a cancelled wait is skipped and leaves no entry", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock);
    const r = new Recorder();
    const handle = engine.wait("c", r);
    handle.cancel();
    handle.cancel(); // harmless twice
    engine.send("c", 1);
    expect(r.got).toEqual([]);
    expect(engine.take("c")).toBe(1);
    clock.advance(5_000);
    engine.sweep();
    expect(engine.hasChannel("c")).toBe(false);
  });

  it("settle gives messages back at the head with their deadlines, in order, or to a waiter", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { expiry: 10 });
    engine.send("c", 1);
    engine.send("c", 2);
    const out = { deadline: 0, priority: 0 };
    expect(engine.take("c", out)).toBe(1);
    expect(out.deadline).toBe(clock.now() + 10_000);
    const first = out.deadline;
    expect(engine.take("c", out)).toBe(2);
    engine.settle("c", 0, [1, 2], [first, out.deadline], [0, 0]);
    expect(engine.take("c")).toBe(1);
    expect(engine.take("c")).toBe(2);
    const waiter = new Recorder();
    engine.wait("c", waiter);
    engine.settle("c", 0, [9], [clock.now() + 500], [0]);
    expect(waiter.got).toEqual([[9, clock.now() + 500]]);
    engine.settle("c", 0, [10], [clock.now()], [0]); // already past its deadline: dropped, counted
    expect(engine.take("c")).toBeUndefined();
    expect(engine.counters.expired).toBe(1);
  });

  it("close returns every waiter and drops all state", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock);
    const a = new Recorder();
    const b = new Recorder();
    engine.wait("x", a);
    engine.wait("y", b);
    engine.send("z", 1);
    engine.groupAdd("g", "z");
    expect(engine.close()).toEqual([a, b]);
    expect(engine.stats()).toMatchObject({ channels: 0, messages: 0, groups: 0, members: 0 });
  });
});

describe("engine: introspection", () => {
  it("top lists the fullest channels and the largest groups, largest first", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock);
    for (let c = 0; c < 20; c++) for (let i = 0; i < c; i++) engine.send(`c${c}`, i);
    for (let g = 0; g < 10; g++) for (let m = 0; m <= g; m++) engine.groupAdd(`g${g}`, `m${m}`);
    engine.wait("waiting", new Recorder());
    const top = engine.top(3);
    expect(top.channels).toEqual([
      { name: "c19", messages: 19, waiting: 0 },
      { name: "c18", messages: 18, waiting: 0 },
      { name: "c17", messages: 17, waiting: 0 },
    ]);
    expect(top.groups).toEqual([
      { name: "g9", members: 10 },
      { name: "g8", members: 9 },
      { name: "g7", members: 8 },
    ]);
    expect(engine.top(50).channels.at(-1)).toEqual({ name: "waiting", messages: 0, waiting: 1 });
  });
});

describe("engine: capacity and groups", () => {
  it("send to a full channel throws ChannelFullError and stores nothing", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { capacity: 2 });
    engine.send("c", 1);
    engine.send("c", 2);
    expect(() => engine.send("c", 3)).toThrow(ChannelFullError);
    expect(engine.stats().messages).toBe(2);
    expect(engine.counters.rejectedFull).toBe(1);
  });

  it("groupSend counts deliveries and skipped full members", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock, { capacity: 1 });
    engine.groupAdd("g", "a");
    engine.groupAdd("g", "b");
    engine.send("a", 0);
    expect(engine.groupSend("g", 1)).toEqual({ delivered: 1, skipped: 1 });
    expect(engine.groupSend("nobody", 1)).toEqual({ delivered: 0, skipped: 0 });
    expect(engine.counters).toMatchObject({ groupSends: 2, groupDelivered: 1, groupSkippedFull: 1 });
  });

  it("a group larger than the slice is delivered a slice per call, to its members of the moment, each at most once", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock);
    for (let i = 0; i < 25; i++) engine.groupAdd("g", `m${i}`);
    let part = engine.groupSend("g", 7, undefined, undefined, 10);
    expect(part).toMatchObject({ delivered: 10, skipped: 0 });
    // Meanwhile: a member already served is refreshed (it moves to the end), one not yet served leaves, a new one joins.
    engine.groupAdd("g", "m0");
    engine.groupDiscard("g", "m15");
    engine.groupAdd("g", "late");
    part = part.more!();
    expect(part).toMatchObject({ delivered: 9, skipped: 0 });
    part = part.more!();
    expect(part).toEqual({ delivered: 5, skipped: 0 });
    expect(engine.take("m0")).toBe(7);
    expect(engine.take("m0")).toBeUndefined();
    expect(engine.take("m15")).toBeUndefined();
    expect(engine.take("late")).toBeUndefined();
    expect(engine.counters).toMatchObject({ groupSends: 1, groupDelivered: 24 });
  });

  it("a sliced send waits behind the group's earlier sliced send: every member gets them in the order sent, whoever moves them on", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock);
    for (let i = 0; i < 25; i++) engine.groupAdd("g", `m${i}`);
    const first = engine.groupSend("g", 1, undefined, undefined, 10);
    const second = engine.groupSend("g", 2, undefined, undefined, 10);
    // The second's steps move the first on until it is done; only the first's sender stopped calling.
    expect(second).toMatchObject({ delivered: 10 });
    let step = second;
    let steps = 1;
    while (step.more !== undefined) {
      step = step.more();
      steps++;
    }
    expect(steps).toBe(5); // 25 members twice, 10 a step
    expect(first.more!()).toEqual({ delivered: 0, skipped: 0 }); // nothing left of it
    for (let i = 0; i < 25; i++) {
      expect(engine.take(`m${i}`)).toBe(1);
      expect(engine.take(`m${i}`)).toBe(2);
    }
    // An unsliced send to the group delivers the rest of those before it first (its figures count them).
    const third = engine.groupSend("g", 3, undefined, undefined, 10);
    expect(engine.groupSend("g", 4)).toEqual({ delivered: 25 - 10 + 25, skipped: 0 });
    expect(third.more!()).toEqual({ delivered: 0, skipped: 0 });
    expect(engine.take("m24")).toBe(3);
    expect(engine.take("m24")).toBe(4);
  });

  it("sliced sends share the member list until a member joins or leaves: each reaches its members of the moment", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock);
    const finish = (s: GroupDelivery): void => {
      while (s.more) s = s.more();
    };
    for (let i = 0; i < 25; i++) engine.groupAdd("g", `m${i}`);
    const first = engine.groupSend("g", 1, undefined, undefined, 10);
    engine.groupAdd("g", "m3"); // a renewal: the same members
    const second = engine.groupSend("g", 2, undefined, undefined, 10);
    finish(first);
    finish(second);
    engine.groupAdd("g", "late");
    const third = engine.groupSend("g", 3, undefined, undefined, 10); // its first step moved nothing of its own: none were left before it
    engine.groupDiscard("g", "m24");
    finish(third);
    finish(engine.groupSend("g", 4, undefined, undefined, 10));
    expect([1, 2, 3, 4, 5].map(() => engine.take("m0"))).toEqual([1, 2, 3, 4, undefined]);
    expect([1, 2, 3].map(() => engine.take("late"))).toEqual([3, 4, undefined]);
    expect([1, 2, 3].map(() => engine.take("m24"))).toEqual([1, 2, undefined]); // gone before the third reached it
    expect([1, 2, 3, 4, 5].map(() => engine.take("m3"))).toEqual([1, 2, 3, 4, undefined]);
  });

  it("the owner drives what it adopted, a turn's budget at a time; a dropped group's sliced send ends", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock);
    for (let i = 0; i < 30; i++) engine.groupAdd("g", `m${i}`);
    engine.adopt(engine.groupSend("g", 1, undefined, undefined, 10).more!);
    expect(engine.driving).toBe(true);
    expect(engine.drive(5)).toBe(true); // one step of 10 members
    expect(engine.take("m19")).toBe(1);
    expect(engine.take("m20")).toBeUndefined();
    expect(engine.drive(100)).toBe(false);
    expect(engine.take("m29")).toBe(1);
    const cut = engine.groupSend("g", 2, undefined, undefined, 10);
    for (let i = 0; i < 30; i++) engine.groupDiscard("g", `m${i}`);
    engine.groupAdd("g", "m29"); // a new group of the same name: not the send's members of then
    expect(cut.more!()).toEqual({ delivered: 0, skipped: 0 });
    expect(engine.take("m29")).toBeUndefined();
  });

  it("flush keeps waiting receivers and drops the rest", () => {
    const clock = new TestClock(1_000);
    const engine = makeEngine(clock);
    const r = new Recorder();
    engine.wait("w", r);
    engine.send("c", 1);
    engine.groupAdd("g", "c");
    engine.flush();
    expect(engine.stats()).toMatchObject({ messages: 0, groups: 0, members: 0, waitingReceivers: 1 });
    engine.send("w", 5);
    expect(r.got.map(([b]) => b)).toEqual([5]);
  });
});
