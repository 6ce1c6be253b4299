/** The engine's presence table: pages by cursor, ends with every kind of membership end, announces once. */
import { describe, expect, it } from "vitest";
import { CapacityRules } from "../../src/options/capacity.js";
import { Engine } from "../../src/engine/engine.js";
import { PresenceTable } from "../../src/engine/presence.js";
import { TestClock } from "../../src/testing/clock.js";

type Event = [type: string, group: string, channel: string, info: string];

function announcing(clock: TestClock, groupExpiry = 86_400, expiry = 60, sliced?: { fanoutSlice: number; onBacklog: () => void }): Engine<string | Event, never, string> {
  return new Engine<string | Event, never, string>({
    expiry,
    groupExpiry,
    capacity: new CapacityRules(100, undefined),
    clock: clock.now,
    ...sliced,
    presenceEvents: { on: (group) => group.startsWith("ev"), body: (type, group, channel, info) => [type, group, channel, info] },
  });
}

function drain(engine: Engine<string | Event, never, string>, channel: string): Array<string | Event> {
  const out: Array<string | Event> = [];
  for (let m = engine.take(channel); m !== undefined; m = engine.take(channel)) out.push(m);
  return out;
}

describe("engine: presence table", () => {
  it("pages a 100,000-entry group by cursor: every entry once, ended ones skipped, each page a bounded read", () => {
    const table = new PresenceTable<number>();
    for (let i = 0; i < 100_000; i++) table.set("g", `c${i}`, i, undefined, 0);
    for (let i = 0; i < 100_000; i += 3) table.delete("g", `c${i}`);
    expect(table.count("g")).toBe(100_000 - 33_334);
    const seen: number[] = [];
    let pages = 0;
    for (let after = -1; ; ) {
      const page = table.page("g", after, 1000);
      pages++;
      expect(page.entries.length).toBeLessThanOrEqual(1000);
      seen.push(...page.entries.map((e) => e.info));
      if (page.next === undefined) break;
      after = page.next;
    }
    expect(seen).toHaveLength(66_666);
    expect(new Set(seen).size).toBe(66_666);
    expect(seen.every((i) => i % 3 !== 0)).toBe(true);
    expect(pages).toBe(67);
  });

  it("an entry ended between pages is not seen; one present throughout is seen once", () => {
    const table = new PresenceTable<string>();
    for (const c of ["a", "b", "c", "d"]) table.set("g", c, c, undefined, 0);
    const first = table.page("g", -1, 2);
    expect(first.entries.map((e) => e.channel)).toEqual(["a", "b"]);
    table.delete("g", "a");
    table.delete("g", "c");
    table.set("g", "e", "e", undefined, 0);
    const second = table.page("g", first.next!, 2);
    expect(second.entries.map((e) => e.channel)).toEqual(["d", "e"]);
    expect(second.next).toBeUndefined();
  });

  it("ownedBy lists an owner's entries; a renewal by another owner moves it", () => {
    const table = new PresenceTable<string>();
    table.set("g", "a", "1", "p1", 0);
    table.set("h", "b", "1", "p1", 0);
    table.set("g", "c", "1", "p2", 0);
    expect(table.set("g", "c", "2", "p1", 5)).toBe(false);
    expect(table.ownedBy("p1").sort()).toEqual([["g", "a"], ["g", "c"], ["h", "b"]]);
    expect(table.ownedBy("p2")).toEqual([]);
  });
});

describe("engine: presence events", () => {
  it("departOwner ends an owner's memberships, each leave announced once to the others", () => {
    const clock = new TestClock(1_000);
    const engine = announcing(clock);
    engine.groupAdd("ev", "a", undefined, { info: "ann", owner: "p1" });
    engine.groupAdd("ev", "b", undefined, { info: "bob", owner: "p2" });
    engine.groupAdd("ev", "c", undefined, { info: "cat", owner: "p1" });
    expect(engine.departOwner("p1")).toBe(2);
    expect(engine.departOwner("p1")).toBe(0);
    expect(drain(engine, "b")).toEqual([
      ["presence.join", "ev", "b", "bob"],
      ["presence.join", "ev", "c", "cat"],
      ["presence.leave", "ev", "a", "ann"],
      ["presence.leave", "ev", "c", "cat"],
    ]);
    expect(engine.groupMembers("ev")?.size).toBe(1);
    expect(engine.presence.count("ev")).toBe(1);
  });

  it("an announcement to a big group is sliced like a group send, driven by the owner, and stays in order with the group's messages", () => {
    const clock = new TestClock(1_000);
    let backlogs = 0;
    const engine = announcing(clock, undefined, undefined, { fanoutSlice: 100, onBacklog: () => backlogs++ });
    for (let i = 0; i < 250; i++) engine.groupAdd("ev", `m${i}`);
    engine.groupAdd("ev", "new", undefined, { info: "hi" });
    expect(backlogs).toBe(1);
    expect(engine.driving).toBe(true);
    expect(drain(engine, "m99")).toEqual([["presence.join", "ev", "new", "hi"]]);
    expect(drain(engine, "m100")).toEqual([]); // not yet: the owner moves it on
    engine.adopt(engine.groupSend("ev", "after", undefined, undefined, 100).more!); // its first step moved the join on
    expect(engine.drive(10_000)).toBe(false);
    expect(drain(engine, "m249")).toEqual([["presence.join", "ev", "new", "hi"], "after"]);
    expect(drain(engine, "new")).toEqual([["presence.join", "ev", "new", "hi"], "after"]);
  });

  it("a leave found by a sliced send's own delivery goes out after that send, to every member once", () => {
    const clock = new TestClock(1_000);
    const engine = announcing(clock, undefined, 10, { fanoutSlice: 100, onBacklog: () => {} });
    for (let i = 0; i < 250; i++) engine.groupAdd("ev", `m${i}`, undefined, i === 150 ? { info: "i150" } : undefined);
    expect(engine.drive(100_000)).toBe(false);
    for (let i = 0; i < 250; i++) drain(engine, `m${i}`); // m150's join
    engine.send("m150", "unread"); // expires before the send reaches m150: m150 leaves, announced to the group mid-send
    clock.advance(11_000);
    engine.adopt(engine.groupSend("ev", "news", undefined, undefined, 100).more!);
    expect(engine.drive(100_000)).toBe(false);
    const leave = ["presence.leave", "ev", "m150", "i150"];
    for (const i of [0, 149, 151, 249]) expect(drain(engine, `m${i}`)).toEqual(["news", leave]);
    expect(drain(engine, "m150")).toEqual([]);
  });

  it("a member that lets a message expire leaves, announced by the operation that notices", () => {
    const clock = new TestClock(1_000);
    const engine = announcing(clock, 86_400, 1);
    engine.groupAdd("ev", "a", undefined, { info: "ann" });
    engine.groupAdd("ev", "b", undefined, { info: "bob" });
    expect(drain(engine, "a")).toHaveLength(2);
    engine.send("b", "unread");
    clock.advance(1_000);
    engine.groupSend("ev", "hello");
    expect(drain(engine, "a")).toEqual(["hello", ["presence.leave", "ev", "b", "bob"]]);
    expect(engine.presence.count("ev")).toBe(1); // a, still a member
  });

  it("membership expiry swept: one leave per entry, none for groups without events", () => {
    const clock = new TestClock(1_000);
    const engine = announcing(clock, 10);
    engine.groupAdd("ev", "a", undefined, { info: "ann" });
    engine.groupAdd("quiet", "a", undefined, { info: "ann" });
    clock.advance(5_000);
    engine.groupAdd("ev", "b", undefined, { info: "bob" });
    engine.groupAdd("quiet", "b", undefined, { info: "bob" });
    clock.advance(5_000);
    while (engine.sweep()) {
      /* until done */
    }
    expect(engine.presence.count("ev")).toBe(1);
    expect(engine.presence.count("quiet")).toBe(1);
    expect(drain(engine, "b")).toEqual([["presence.join", "ev", "b", "bob"], ["presence.leave", "ev", "a", "ann"]]);
    engine.flush();
    expect(engine.presence.size).toBe(0);
  });
});
