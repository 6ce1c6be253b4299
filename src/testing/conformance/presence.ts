/**
 * Presence as tests (docs/presence.md): entries listed and counted,
 * ended with their membership, announced once each, checked like messages.
 * Run unchanged against every backend that keeps presence; one that does not
 * declares the `presence` capability missing, with its reason.
 */
import { vitest } from "../vitest.js";
import { MessageTooLargeError, type ChannelLayer, type Message, type PresenceEntry, type PresencePage } from "../../index.js";
import { closedAfterEach, fresh, sleep, waitsFor } from "./helpers.js";
import type { ConformanceTarget } from "./suite.js";

type PresenceLayer = ChannelLayer & Required<Pick<ChannelLayer, "presence" | "presenceCount">>;

/** The layer, asserting that it has the presence methods (a backend declaring them kept must). */
function withPresence(layer: ChannelLayer): PresenceLayer {
  if (typeof layer.presence !== "function" || typeof layer.presenceCount !== "function") {
    throw new Error("this layer has no presence() / presenceCount(): declare capabilities.presence with the reason");
  }
  return layer as PresenceLayer;
}

/** Every entry of `group`, page by page. */
async function listAll(layer: PresenceLayer, group: string, limit?: number): Promise<PresenceEntry[]> {
  const out: PresenceEntry[] = [];
  let page: PresencePage = await layer.presence(group, { limit });
  for (;;) {
    out.push(...page.entries);
    if (page.next === undefined) return out;
    page = await layer.presence(group, { limit, after: page.next });
  }
}

/** Poll until `check` holds or `ms` of wall clock pass, letting 25 ms of the layers' time pass between tries; returns whether it held. */
async function eventually(check: () => Promise<boolean>, ms: number, elapse: (ms: number) => Promise<void>): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await elapse(25);
  }
}

export function presenceConformance(target: ConformanceTarget): void {
  const { describe, expect, it } = vitest("describeChannelLayer");
  const make = closedAfterEach(async (options) => withPresence(await target.make(options)));
  const open = async (options?: Parameters<ConformanceTarget["make"]>[0]): Promise<PresenceLayer> => (await make(options)) as PresenceLayer;
  const events = { groupPresence: { "pres-ev-*": { events: true } } };
  const shape = (ms: Message[]): Array<[string, unknown]> => ms.map((m) => [m.type, m.type.startsWith("presence.") ? m.channel : undefined]);
  const { drain, elapse } = waitsFor(target);

  describe(`presence: ${target.name}`, { timeout: 30_000 }, () => {
    it("lists entries with their info and since, and counts them", async () => {
      const layer = await open();
      const group = fresh("pres");
      const [a, b, c] = [fresh("pa"), fresh("pb"), fresh("pc")];
      const before = Date.now();
      await layer.groupAdd(group, a, { presence: { user: "ann", tags: ["x"] } });
      await layer.groupAdd(group, b, { presence: { user: "bob" } });
      await layer.groupAdd(group, c); // a membership without presence is no entry
      expect(await layer.presenceCount(group)).toBe(2);
      const page = await layer.presence(group);
      expect(page.next).toBeUndefined();
      expect(page.entries.map((e) => [e.channel, e.info])).toEqual([[a, { user: "ann", tags: ["x"] }], [b, { user: "bob" }]]);
      for (const e of page.entries) expect(e.since).toBeGreaterThanOrEqual(before - 1000);
      expect(await layer.presenceCount(fresh("nobody"))).toBe(0);
      expect((await layer.presence(fresh("nobody"))).entries).toEqual([]);
    });

    it("a renewal keeps since, takes the new info and stays one entry", async () => {
      const layer = await open();
      const group = fresh("pres-renew");
      const a = fresh("pa");
      await layer.groupAdd(group, a, { presence: { n: 1 } });
      const [first] = (await layer.presence(group)).entries;
      await sleep(5);
      await layer.groupAdd(group, a, { presence: { n: 2 } });
      const entries = (await layer.presence(group)).entries;
      expect(entries).toEqual([{ channel: a, info: { n: 2 }, since: first!.since }]);
    });

    it("reads a large group in bounded pages, every entry once", async () => {
      const layer = await open();
      const group = fresh("pres-pages");
      const members = Array.from({ length: 25 }, (_, i) => `${group}-m${i}`);
      await Promise.all(members.map((m, i) => layer.groupAdd(group, m, { presence: { i } })));
      const first = await layer.presence(group, { limit: 10 });
      expect(first.entries).toHaveLength(10);
      expect(first.next).toEqual(expect.any(String));
      const all = await listAll(layer, group, 10);
      expect(all.map((e) => e.channel).sort()).toEqual([...members].sort());
      await expect(layer.presence(group, { limit: 0 })).rejects.toBeInstanceOf(RangeError);
      await expect(layer.presence(group, { limit: 1_000_000 })).rejects.toBeInstanceOf(RangeError);
    });

    it("groupDiscard and flush end entries", async () => {
      const layer = await open();
      const group = fresh("pres-end");
      const [a, b] = [fresh("pa"), fresh("pb")];
      await layer.groupAdd(group, a, { presence: { user: "ann" } });
      await layer.groupAdd(group, b, { presence: { user: "bob" } });
      await layer.groupDiscard(group, a);
      expect((await layer.presence(group)).entries.map((e) => e.channel)).toEqual([b]);
      expect(await layer.presenceCount(group)).toBe(1);
      await layer.groupAdd(group, a); // joining again without presence makes no entry
      expect(await layer.presenceCount(group)).toBe(1);
      await layer.flush();
      expect(await layer.presenceCount(group)).toBe(0);
      expect((await layer.presence(group)).entries).toEqual([]);
    });

    it("membership expiry ends the entry", async () => {
      const layer = await open({ groupExpiry: 1 });
      const group = fresh("pres-exp");
      const a = fresh("pa");
      await layer.groupAdd(group, a, { presence: { user: "ann" } });
      expect(await layer.presenceCount(group)).toBe(1);
      expect(await eventually(async () => (await layer.presenceCount(group)) === 0 && (await layer.presence(group)).entries.length === 0, 4000, elapse)).toBe(true);
    });

    it("presence info is checked like a message: bad values and oversize are refused, nothing stored", async () => {
      const layer = await open({ maxMessageBytes: 1024 });
      const group = fresh("pres-bad");
      const a = fresh("pa");
      await expect(layer.groupAdd(group, a, { presence: { big: "x".repeat(2000) } })).rejects.toBeInstanceOf(MessageTooLargeError);
      for (const bad of [{ f: () => 1 }, { d: new Date() }, "ann", null, [1]]) {
        await expect(layer.groupAdd(group, a, { presence: bad as never })).rejects.toBeInstanceOf(TypeError);
      }
      expect(await layer.presenceCount(group)).toBe(0);
      await layer.groupSend(group, { type: "nobody" });
      expect(await drain(layer, a)).toEqual([]); // a refused add adds no membership either
    });

    it("with events on, members get one presence.join and one presence.leave per entry, in order with group messages", async () => {
      const layer = await open(events);
      const group = fresh("pres-ev-room");
      const [a, b] = [fresh("pa"), fresh("pb")];
      await layer.groupAdd(group, a, { presence: { user: "ann" } });
      await layer.groupSend(group, { type: "chat", n: 1 });
      await layer.groupAdd(group, b, { presence: { user: "bob" } });
      await layer.groupAdd(group, b, { presence: { user: "bob", away: true } }); // a renewal: no second join
      await layer.groupSend(group, { type: "chat", n: 2 });
      await layer.groupDiscard(group, b);
      await layer.groupDiscard(group, b); // gone already: no second leave
      await layer.groupSend(group, { type: "chat", n: 3 });
      const got = await drain(layer, a, 6);
      expect(shape(got)).toEqual([
        ["presence.join", a],
        ["chat", undefined],
        ["presence.join", b],
        ["chat", undefined],
        ["presence.leave", b],
        ["chat", undefined],
      ]);
      expect(got[2]).toEqual({ type: "presence.join", group, channel: b, info: { user: "bob" } });
      expect(got[4]).toMatchObject({ info: { user: "bob", away: true } });
      expect(shape(await drain(layer, b, 2))).toEqual([["presence.join", b], ["chat", undefined]]);
    });

    it("without events on, members get no presence messages", async () => {
      const layer = await open(events);
      const group = fresh("pres-quiet");
      const [a, b] = [fresh("pa"), fresh("pb")];
      await layer.groupAdd(group, a, { presence: { user: "ann" } });
      await layer.groupAdd(group, b, { presence: { user: "bob" } });
      await layer.groupDiscard(group, b);
      expect(await drain(layer, a)).toEqual([]);
    });

    it("an entry that expires is announced once", async () => {
      const layer = await open({ ...events, groupExpiry: 1 });
      const group = fresh("pres-ev-exp");
      const [a, b] = [fresh("pa"), fresh("pb")];
      await layer.groupAdd(group, a, { presence: { user: "ann" } });
      await elapse(600);
      await layer.groupAdd(group, b, { presence: { user: "bob" } });
      // a's membership ends; b, renewed all along (no second join), hears it leave.
      const renewed = async (): Promise<boolean> => {
        await layer.groupAdd(group, b, { presence: { user: "bob" } });
        return (await layer.presenceCount(group)) === 1;
      };
      expect(await eventually(renewed, 4000, elapse)).toBe(true);
      await layer.groupSend(group, { type: "after" });
      expect(shape(await drain(layer, b, 3))).toEqual([["presence.join", b], ["presence.leave", a], ["after", undefined]]);
    });

    if (target.shared) {
      it("close() of the layer that added an entry ends it at once, announced to the others once", async () => {
        const owner = await open(events);
        const other = await open(events);
        const group = fresh("pres-ev-close");
        const [a, b] = [fresh("pa"), fresh("pb")];
        await owner.groupAdd(group, a, { presence: { user: "ann" } });
        await other.groupAdd(group, b, { presence: { user: "bob" } });
        expect(await other.presenceCount(group)).toBe(2);
        await owner.close();
        expect((await other.presence(group)).entries.map((e) => e.channel)).toEqual([b]);
        await other.groupSend(group, { type: "after" });
        expect(shape(await drain(other, b, 3))).toEqual([["presence.join", b], ["presence.leave", a], ["after", undefined]]);
      });
    }
  });
}
