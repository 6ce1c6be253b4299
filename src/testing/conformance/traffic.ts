/**
 * Traffic control as tests (docs/traffic.md): priorities, rate limits, overflow
 * policies and dead letters, run unchanged against every engine backend.
 */
import { vitest } from "../vitest.js";
import { ChannelFullError, RateLimitedError, type Message } from "../../index.js";
import { closedAfterEach, fresh, waitsFor } from "./helpers.js";
import type { ConformanceTarget } from "./suite.js";

export function trafficConformance(target: ConformanceTarget): void {
  const { describe, expect, it } = vitest("describeChannelLayer");
  const make = closedAfterEach((options) => target.make(options));
  const types = (ms: Message[]): string[] => ms.map((m) => m.type);
  const { drain, elapse, tryReceive } = waitsFor(target);

  describe(`traffic control: ${target.name}`, { timeout: 30_000 }, () => {
    describe("priority", () => {
      it("delivers higher priorities first and keeps FIFO within a level", async () => {
        const layer = await make();
        expect(layer.extensions).toContain("priority");
        const ch = fresh("prio");
        await layer.send(ch, { type: "low-1" });
        await layer.send(ch, { type: "high-1" }, { priority: 9 });
        await layer.send(ch, { type: "mid-1" }, { priority: 5 });
        await layer.send(ch, { type: "high-2" }, { priority: 9 });
        await layer.send(ch, { type: "low-2" }, { priority: 0 });
        expect(types(await drain(layer, ch, 5))).toEqual(["high-1", "high-2", "mid-1", "low-1", "low-2"]);
      });

      it("channelPriority sets the default per pattern; an explicit priority wins", async () => {
        const layer = await make({ channelPriority: { "alerts.*": 7 } });
        const ch = `alerts.${fresh("x")}`;
        await layer.send(ch, { type: "explicit-low" }, { priority: 1 });
        await layer.send(ch, { type: "default" });
        expect(types(await drain(layer, ch, 2))).toEqual(["default", "explicit-low"]);
      });

      it("group sends carry a priority to every member", async () => {
        const layer = await make();
        const group = fresh("prio-group");
        const member = fresh("prio-member");
        await layer.groupAdd(group, member);
        await layer.send(member, { type: "direct" });
        await layer.groupSend(group, { type: "urgent" }, { priority: 8 });
        expect(types(await drain(layer, member, 2))).toEqual(["urgent", "direct"]);
      });

      it("a priority outside 0–9 is a RangeError and sends nothing", async () => {
        const layer = await make();
        const ch = fresh("prio-bad");
        for (const priority of [-1, 10, 1.5, NaN]) {
          await expect(layer.send(ch, { type: "t" }, { priority })).rejects.toBeInstanceOf(RangeError);
        }
        expect(() => target.make({ channelPriority: { "a*": 12 } })).toThrow(RangeError);
        expect(await tryReceive(layer, ch)).toBeUndefined();
      });

      it("expiry and capacity keep their rules at every level", async () => {
        const layer = await make({ expiry: 0.2, capacity: 2 });
        const ch = fresh("prio-exp");
        await layer.send(ch, { type: "old-high" }, { priority: 9 });
        await layer.send(ch, { type: "old-low" });
        await expect(layer.send(ch, { type: "third" }, { priority: 9 })).rejects.toBeInstanceOf(ChannelFullError);
        await elapse(300, target.expirySlackMs);
        await layer.send(ch, { type: "new-low" });
        expect(types(await drain(layer, ch, 1))).toEqual(["new-low"]);
      });

      it("a cancelled receive leaves a high-priority message at the head of its level", async () => {
        const layer = await make();
        const ch = fresh("prio-cancel");
        for (let i = 0; i < 20; i++) {
          await layer.send(ch, { type: "high", i }, { priority: 9 });
          await layer.send(ch, { type: "low", i });
          const c = new AbortController();
          const pending = layer.receive(ch, { signal: c.signal });
          c.abort();
          const got = await pending.catch(() => undefined);
          // The rest: both, or the one the cancelled receive did not take (it may come back late from a broker across a socket).
          const rest = await drain(layer, ch, got ? 1 : 2);
          const all = got ? [got, ...rest] : rest;
          expect(types(all)).toEqual(["high", "low"]);
        }
      });
    });

    describe("rate limits", () => {
      it("a send over the limit rejects with RateLimitedError carrying retryAfterMs, and stores nothing", async () => {
        const layer = await make({ rateLimits: { "limited.*": { rate: "10/s", burst: 2 } } });
        const ch = `limited.${fresh("x")}`;
        await layer.send(ch, { type: "1" });
        await layer.send(ch, { type: "2" });
        const refused = await layer.send(ch, { type: "3" }).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(RateLimitedError);
        expect(refused).toMatchObject({ code: "ERR_RATE_LIMITED" });
        const wait = (refused as RateLimitedError).retryAfterMs;
        expect(wait).toBeGreaterThan(0);
        expect(wait).toBeLessThanOrEqual(100);
        await elapse(wait + 20);
        await layer.send(ch, { type: "4" });
        expect(types(await drain(layer, ch, 3))).toEqual(["1", "2", "4"]);
        // Channels no pattern matches are not limited.
        const free = fresh("free");
        for (let i = 0; i < 20; i++) await layer.send(free, { type: "f" });
      });

      it("groupSend skips members over their limit instead of raising", async () => {
        const layer = await make({ rateLimits: [["slow-*", { rate: "1/s", burst: 1 }]] });
        const group = fresh("rl-group");
        const slow = fresh("slow-member");
        const fast = fresh("fast-member");
        await layer.groupAdd(group, slow);
        await layer.groupAdd(group, fast);
        for (let i = 0; i < 3; i++) await layer.groupSend(group, { type: "news", i });
        expect((await drain(layer, fast, 3)).length).toBe(3);
        expect((await drain(layer, slow, 1)).length).toBe(1);
      });

      it("a limit on a group pattern limits groupSends to it, silently", async () => {
        const layer = await make({ rateLimits: { "room-*": { rate: "1/s", burst: 2 } } });
        const group = fresh("room-x");
        const member = fresh("member");
        await layer.groupAdd(group, member);
        for (let i = 0; i < 5; i++) await layer.groupSend(group, { type: "m", i });
        expect((await drain(layer, member, 2)).map((m) => m.i)).toEqual([0, 1]);
      });

      it("refuses a malformed rate when the layer is made", () => {
        for (const rate of ["fast", "10/fortnight", "0/s", { rate: "5/s", burst: 0 }]) {
          expect(() => target.make({ rateLimits: { "a*": rate as string } })).toThrow(RangeError);
        }
      });
    });

    describe("overflow policies", () => {
      it("drop-oldest keeps the newest messages and the send succeeds", async () => {
        const layer = await make({ capacity: 3, overflow: { "feed.*": "drop-oldest" } });
        const ch = `feed.${fresh("x")}`;
        for (let i = 0; i < 6; i++) await layer.send(ch, { type: "n", i });
        expect((await drain(layer, ch, 3)).map((m) => m.i)).toEqual([3, 4, 5]);
      });

      it("drop-newest keeps the oldest messages and the send succeeds", async () => {
        const layer = await make({ capacity: 3, overflow: [[/^log\./, "drop-newest"]] });
        const ch = `log.${fresh("x")}`;
        for (let i = 0; i < 6; i++) await layer.send(ch, { type: "n", i });
        expect((await drain(layer, ch, 3)).map((m) => m.i)).toEqual([0, 1, 2]);
      });

      it("reject stays the default", async () => {
        const layer = await make({ capacity: 1, overflow: { "other.*": "drop-oldest" } });
        const ch = fresh("plain");
        await layer.send(ch, { type: "a" });
        await expect(layer.send(ch, { type: "b" })).rejects.toBeInstanceOf(ChannelFullError);
        expect(() => target.make({ overflow: { "a*": "drop-random" as "reject" } })).toThrow(RangeError);
      });
    });

    describe("dead letters", () => {
      it("receive what the layer drops, wrapped with the reason and the original channel", async () => {
        const dead = fresh("dead");
        // Letters expire like any message, so expiry is long enough that the "expired"
        // letter, written when the sweep or a receive notices it, outlives a loaded machine.
        const layer = await make({
          expiry: 1,
          capacity: 1,
          channelCapacity: { "limited.*": 10 },
          overflow: { "over.*": "drop-oldest" },
          rateLimits: { "limited.*": { rate: "1/s", burst: 1 } },
          deadLetters: dead,
        });
        const over = `over.${fresh("x")}`;
        await layer.send(over, { type: "first" });
        await layer.send(over, { type: "second" }); // drops "first"
        const group = fresh("dl-group");
        const limited = `limited.${fresh("x")}`;
        await layer.groupAdd(group, limited);
        await layer.groupSend(group, { type: "g1" });
        await layer.groupSend(group, { type: "g2" }); // over the member's limit: skipped
        const letters = await drain(layer, dead, 2);
        expect(letters).toEqual([
          { type: "dead.letter", reason: "overflow", channel: over, message: { type: "first" } },
          { type: "dead.letter", reason: "rate-limited", channel: limited, group, message: { type: "g2" } },
        ]);
        await elapse(1100, target.expirySlackMs);
        expect(await tryReceive(layer, over)).toBeUndefined(); // "second" expired unread
        const expired = await drain(layer, dead, 1);
        expect(expired).toContainEqual({ type: "dead.letter", reason: "expired", channel: over, message: { type: "second" } });
      });

      it("the dead-letter channel is bounded and keeps the newest letters", async () => {
        const dead = fresh("dead-bounded");
        const layer = await make({ capacity: 1, overflow: { "*": "drop-newest" }, deadLetters: { channel: dead, capacity: 3 } });
        const ch = fresh("spill");
        for (let i = 0; i < 10; i++) await layer.send(ch, { type: "n", i });
        const letters = await drain(layer, dead, 3);
        expect(letters.map((l) => (l.message as Message).i)).toEqual([7, 8, 9]);
      });
    });
  });
}
