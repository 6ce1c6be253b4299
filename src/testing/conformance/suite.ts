/**
 * The conformance suite: docs/semantics.md §2–§4 as tests, run unchanged against every
 * backend. A backend that fails a case here does not ship.
 */
import { vitest } from "../vitest.js";
import {
  ChannelFullError,
  InvalidChannelNameError,
  InvalidGroupNameError,
  LayerClosedError,
  MessageTooLargeError,
  type ChannelLayer,
  type LayerOptions,
  type Message,
} from "../../index.js";
import { casesFor, type Capability } from "./capabilities.js";
import { closedAfterEach, fresh, sleep, tick, tryReceive, waitsFor, type Settle } from "./helpers.js";
import { historyCases } from "./history.js";
import { modelTest } from "./model.js";

export interface ConformanceTarget {
  /** Shown in the test names. */
  name: string;
  /** A new layer instance on the backend under test. */
  make(options?: LayerOptions): ChannelLayer | Promise<ChannelLayer>;
  /** Whether two instances share channels and groups (every backend but memory). */
  shared: boolean;
  /** Backends whose clock is coarse (Redis TTLs) get a little more slack on expiry tests. */
  expirySlackMs?: number;
  /** The backend can say nothing is pending: channels are proved empty by settling, not by waiting out a receive. */
  settle?: Settle;
  /** The clock `make`'s layers read (a TestClock): expiry and rate-limit cases move it instead of sleeping. */
  clock?: { advance(ms: number): void };
  /**
   * SKIPPED CASES, declared: capabilities of the contract this backend cannot
   * keep, each with the reason (capabilities.ts lists the cases each one
   * covers). Absent for every backend that keeps the whole contract.
   */
  lacks?: Partial<Record<Capability, string>>;
}

const BAD_CHANNELS: unknown[] = ["", "has space", "ünïcode", "a".repeat(100), "a!b!c", "!x", "semi;colon", 42, null, undefined];
const BAD_GROUPS: unknown[] = ["", "has space", "a!b", "a".repeat(100), 42, null];

export function conformance(target: ConformanceTarget): void {
  const { describe, expect } = vitest("describeChannelLayer");
  const make = closedAfterEach((options) => target.make(options));
  const slack = target.expirySlackMs ?? 0;
  const waits = waitsFor(target);
  const it = casesFor(target.lacks);


  // Cases wait on real expiry and timers: give them the time a loaded CI machine needs, whatever the caller's config says.
  describe(`conformance: ${target.name}`, { timeout: 30_000 }, () => {
    describe("random operations against a reference model (docs/semantics.md §4.1, §4.4, §4.10)", () => modelTest(target, fresh, it));

    describe("names and messages (docs/semantics.md §2)", () => {
      it("rejects bad channel names with InvalidChannelNameError before storing anything", async () => {
        const layer = await make();
        for (const name of BAD_CHANNELS) {
          for (const call of [
            () => layer.send(name as string, { type: "t" }),
            () => layer.receive(name as string),
            () => layer.groupAdd("g", name as string),
            () => layer.groupDiscard("g", name as string),
          ]) {
            const promise = call(); // must not throw synchronously
            await expect(promise).rejects.toBeInstanceOf(InvalidChannelNameError);
            await expect(promise).rejects.toBeInstanceOf(TypeError);
            await expect(promise).rejects.toMatchObject({ code: "ERR_INVALID_CHANNEL_NAME" });
          }
        }
      });

      it("accepts names up to 99 characters and the whole allowed alphabet", async () => {
        const layer = await make();
        const long = fresh("a").padEnd(99, "x");
        await layer.send(long, { type: "t" });
        expect((await layer.receive(long)).type).toBe("t");
        const odd = fresh("Az09-_.x");
        await layer.send(odd, { type: "odd" });
        expect((await layer.receive(odd)).type).toBe("odd");
      });

      it("names the broken rule in the error message", async () => {
        const layer = await make();
        await expect(layer.send("has space", { type: "t" })).rejects.toThrow(/has space.*letters, digits/);
        await expect(layer.send("a".repeat(120), { type: "t" })).rejects.toThrow(/shorter than 100/);
        await expect(layer.groupAdd("a!b", "c")).rejects.toThrow(/group name "a!b" is invalid/);
      });

      it("rejects bad group names with InvalidGroupNameError", async () => {
        const layer = await make();
        for (const name of BAD_GROUPS) {
          for (const call of [
            () => layer.groupAdd(name as string, "chan"),
            () => layer.groupDiscard(name as string, "chan"),
            () => layer.groupSend(name as string, { type: "t" }),
          ]) {
            const promise = call();
            await expect(promise).rejects.toBeInstanceOf(InvalidGroupNameError);
            await expect(promise).rejects.toMatchObject({ code: "ERR_INVALID_GROUP_NAME" });
          }
        }
      });

      it("newChannel makes unique process-local names from a prefix", async () => {
        const layer = await make();
        const names = await Promise.all(Array.from({ length: 200 }, () => layer.newChannel()));
        expect(new Set(names).size).toBe(200);
        for (const name of names) expect(name).toMatch(/^specific\.[A-Za-z0-9]+![A-Za-z0-9]+$/);
        expect(await layer.newChannel("chat.user")).toMatch(/^chat\.user\.[A-Za-z0-9]+![A-Za-z0-9]+$/);
        // The instance id is fixed per instance.
        const id = (n: string) => n.slice(0, n.indexOf("!"));
        expect(new Set(names.map(id)).size).toBe(1);
        await expect(layer.newChannel("bad!prefix")).rejects.toBeInstanceOf(InvalidChannelNameError);
        await expect(layer.newChannel("x".repeat(95))).rejects.toBeInstanceOf(InvalidChannelNameError);
      });

      it("rejects bad messages with a TypeError naming the path of the bad value", async () => {
        const layer = await make();
        const ch = fresh("bad-messages");
        class Point {
          x = 1;
        }
        const cyclic: Record<string, unknown> = { type: "t" };
        cyclic.self = { again: cyclic };
        const cases: Array<[unknown, RegExp]> = [
          [{ type: "t", items: [1, 2, 3, { when: new Date() }] }, /message\.items\[3\]\.when: Date is not allowed/],
          [{ type: "t", f: () => 1 }, /message\.f: a function is not allowed/],
          [{ type: "t", m: new Map() }, /message\.m: Map is not allowed/],
          [{ type: "t", s: new Set() }, /message\.s: Set is not allowed/],
          [{ type: "t", p: new Point() }, /message\.p: Point is not allowed/],
          [{ type: "t", a: [1, undefined] }, /message\.a\[1\]: undefined is not allowed/],
          [{ type: "t", deep: { list: [undefined] } }, /message\.deep\.list\[0\]: undefined is not allowed/],
          [{ type: "t", price: { cents: Number.NaN } }, /message\.price\.cents: NaN is not allowed/],
          [cyclic, /message\.self\.again: a cycle/],
          [{ type: "t", big: 2n ** 64n }, /message\.big: bigint .* outside int64/],
          [{ type: "t", sym: Symbol("s") }, /message\.sym: a symbol is not allowed/],
          [{ kind: "no type" }, /message\.type must be a string/],
          [{ type: 5 }, /message\.type must be a string/],
          [{ type: "t", __asgi_channel__: "x" }, /reserved/],
          ["a string", /plain object/],
          [null, /plain object with a string "type", got null/],
          [[{ type: "t" }], /plain object/],
        ];
        for (const [message, why] of cases) {
          const sent = layer.send(ch, message as Message);
          await expect(sent).rejects.toBeInstanceOf(TypeError);
          await expect(sent).rejects.toThrow(why);
          await expect(layer.groupSend("g", message as Message)).rejects.toThrow(why);
        }
        await waits.expectEmpty(layer, ch);
      });

      it("leaves out object properties that hold undefined, as JSON.stringify does (undefined in an array is refused above)", async () => {
        const layer = await make();
        const ch = await layer.newChannel(); // listened on from the start on every backend, pub/sub included
        await layer.send(ch, { type: "t", a: 1, u: undefined, nested: { x: undefined, y: 2 } } as unknown as Message);
        const received = await layer.receive(ch);
        expect(received).toEqual({ type: "t", a: 1, nested: { y: 2 } });
        expect(Object.keys(received)).toEqual(["type", "a", "nested"]);
        expect(Object.keys(received.nested as object)).toEqual(["y"]);
      });

      it("round-trips every allowed value type", async () => {
        const layer = await make();
        const ch = fresh("values");
        const message: Message = {
          type: "values.all",
          nil: null,
          yes: true,
          no: false,
          int: 42,
          neg: -7,
          float: 3.25,
          wide: 2 ** 40,
          maxSafe: Number.MAX_SAFE_INTEGER,
          big: 2n ** 62n,
          negBig: -(2n ** 63n),
          text: "héllo wörld ✓ 😀",
          empty: "",
          bytes: new Uint8Array([0, 1, 2, 255]),
          nested: { list: [1, "two", [3, { four: 4 }]], obj: {} },
        };
        await layer.send(ch, message);
        const got = await layer.receive(ch);
        expect(got.type).toBe("values.all");
        expect(got.nil).toBeNull();
        expect(got.yes).toBe(true);
        expect(got.no).toBe(false);
        expect(got.int).toBe(42);
        expect(got.neg).toBe(-7);
        expect(got.float).toBe(3.25);
        expect(got.wide).toBe(2 ** 40);
        expect(got.maxSafe).toBe(Number.MAX_SAFE_INTEGER);
        expect(got.big).toBe(2n ** 62n);
        expect(got.negBig).toBe(-(2n ** 63n));
        expect(got.text).toBe("héllo wörld ✓ 😀");
        expect(got.empty).toBe("");
        expect(got.bytes).toBeInstanceOf(Uint8Array);
        expect([...(got.bytes as Uint8Array)]).toEqual([0, 1, 2, 255]);
        expect(got.nested).toEqual({ list: [1, "two", [3, { four: 4 }]], obj: {} });
      });

      it("gives the receiver a copy: changing the sent object afterwards changes nothing", async () => {
        const layer = await make();
        const ch = fresh("copy");
        const bytes = new Uint8Array([1, 2, 3]);
        const message = { type: "t", list: [1, 2], inner: { a: 1 }, bytes };
        await layer.send(ch, message);
        message.list.push(3);
        message.inner.a = 99;
        bytes[0] = 42;
        const got = await layer.receive(ch);
        expect(got.list).toEqual([1, 2]);
        expect(got.inner).toEqual({ a: 1 });
        expect([...(got.bytes as Uint8Array)]).toEqual([1, 2, 3]);
      });

      it("rejects a message over maxMessageBytes with MessageTooLargeError and stores nothing", async () => {
        const layer = await make({ maxMessageBytes: 10_000 });
        const ch = fresh("large");
        const group = fresh("large-group");
        await layer.groupAdd(group, ch);
        const big = { type: "t", blob: "x".repeat(20_000) };
        await expect(layer.send(ch, big)).rejects.toBeInstanceOf(MessageTooLargeError);
        await expect(layer.send(ch, big)).rejects.toMatchObject({ code: "ERR_MESSAGE_TOO_LARGE" });
        await expect(layer.groupSend(group, big)).rejects.toBeInstanceOf(MessageTooLargeError);
        await expect(layer.send(ch, { type: "t", blob: new Uint8Array(20_000) })).rejects.toBeInstanceOf(MessageTooLargeError);
        // Near the limit by the cheap bound but under it when encoded: accepted.
        await layer.send(ch, { type: "ok", text: "y".repeat(4_000) });
        const got = await waits.drain(layer, ch, 1);
        expect(got.map((m) => m.type)).toEqual(["ok"]);
      });
    });

    describe("at-most-once and FIFO (docs/semantics.md §4.1)", () => {
      it("delivers messages in the order they were sent", async () => {
        const layer = await make({ capacity: 1000 });
        const ch = fresh("fifo");
        for (let i = 0; i < 200; i++) await layer.send(ch, { type: "n", i });
        for (let i = 0; i < 200; i++) expect((await layer.receive(ch)).i).toBe(i);
        await waits.expectEmpty(layer, ch);
      });

      it("keeps order for sends issued without awaiting", async () => {
        const layer = await make({ capacity: 1000 });
        const ch = fresh("fifo-burst");
        await Promise.all(Array.from({ length: 300 }, (_, i) => layer.send(ch, { type: "n", i })));
        const got = await Promise.all(Array.from({ length: 300 }, () => layer.receive(ch)));
        expect(got.map((m) => m.i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      });

      it("a waiting receive gets a message sent later", async () => {
        const layer = await make();
        const ch = fresh("wait");
        const pending = layer.receive(ch);
        await waits.settled(layer, 20);
        await layer.send(ch, { type: "later" });
        expect((await pending).type).toBe("later");
      });

      it("send never blocks waiting for a reader (docs/semantics.md §4.9)", async () => {
        const layer = await make();
        const ch = fresh("noreader");
        await layer.send(ch, { type: "a" });
        await layer.send(ch, { type: "b" });
        expect((await waits.drain(layer, ch, 2)).map((m) => m.type)).toEqual(["a", "b"]);
      });

      it("messages() iterates receives in order and ends when the layer closes", async () => {
        const layer = await make();
        const ch = fresh("iter");
        for (let i = 0; i < 3; i++) await layer.send(ch, { type: "n", i });
        const seen: number[] = [];
        const loop = (async () => {
          for await (const m of layer.messages(ch)) seen.push(m.i as number);
        })();
        while (seen.length < 3) await sleep(5);
        await layer.close();
        await loop;
        expect(seen).toEqual([0, 1, 2]);
      });

      it("messages() started after close() rejects with LayerClosedError (docs/semantics.md §4.11)", async () => {
        const layer = await make();
        const made = layer.messages(fresh("iter")); // made before close, iterated after: still after
        await layer.close();
        await expect(made.next()).rejects.toBeInstanceOf(LayerClosedError);
        await expect(layer.messages(fresh("iter")).next()).rejects.toBeInstanceOf(LayerClosedError);
      });
    });

    describe("worker channels (docs/semantics.md §4.2)", () => {
      it("concurrent receives on one channel share its messages, each to exactly one", async () => {
        const layer = await make();
        const ch = fresh("workers");
        const receives = Array.from({ length: 5 }, () => layer.receive(ch));
        for (let i = 0; i < 5; i++) await layer.send(ch, { type: "job", i });
        const got = await Promise.all(receives);
        expect(got.map((m) => m.i).sort()).toEqual([0, 1, 2, 3, 4]);
        await waits.expectEmpty(layer, ch);
      });

      it("receivers in a loop share a stream without loss or duplicates", async () => {
        const layers = target.shared ? await Promise.all([make(), make(), make()]) : [await make()];
        const sender = layers[0]!;
        const ch = fresh("stream");
        const total = 600;
        const seen: number[] = [];
        let done = false;
        const workers = Array.from({ length: 6 }, async (_, w) => {
          const layer = layers[w % layers.length]!;
          while (!done) {
            const m = await tryReceive(layer, ch, 50);
            if (m) seen.push(m.i as number);
          }
        });
        for (let i = 0; i < total; i++) {
          for (;;) {
            try {
              await sender.send(ch, { type: "job", i });
              break;
            } catch (err) {
              if (!(err instanceof ChannelFullError)) throw err;
              await sleep(1);
            }
          }
        }
        while (seen.length < total) await sleep(10);
        done = true;
        await Promise.all(workers);
        expect(seen.length).toBe(total);
        expect(new Set(seen).size).toBe(total);
      });
    });

    describe("process-local channels (docs/semantics.md §4.3)", () => {
      it("the instance that made a ! channel receives from it", async () => {
        const layer = await make();
        const ch = await layer.newChannel();
        await layer.send(ch, { type: "mine" });
        expect((await layer.receive(ch)).type).toBe("mine");
      });

      it("receiving on another instance's ! channel rejects at once, saying whose it is", async () => {
        const a = await make();
        const b = await make();
        const ch = await a.newChannel();
        const attempt = b.receive(ch);
        await expect(attempt).rejects.toBeInstanceOf(InvalidChannelNameError);
        await expect(attempt).rejects.toThrow(/another layer instance/);
        await expect(b.receive("somebody.else!abc")).rejects.toBeInstanceOf(InvalidChannelNameError);
      });

      it.runIf(target.shared)("another instance can send to a ! channel and to its groups", async () => {
        const a = await make();
        const b = await make();
        const ch = await a.newChannel();
        const group = fresh("local-group");
        await b.send(ch, { type: "direct" });
        await b.groupAdd(group, ch);
        await b.groupSend(group, { type: "fanned" });
        expect((await a.receive(ch)).type).toBe("direct");
        expect((await a.receive(ch)).type).toBe("fanned");
      });

      it.runIf(target.shared)("instances share normal channels", async () => {
        const a = await make();
        const b = await make();
        const ch = fresh("shared");
        await a.send(ch, { type: "across" });
        expect((await b.receive(ch)).type).toBe("across");
      });
    });

    describe("capacity (docs/semantics.md §4.4)", () => {
      it("send to a full channel rejects with ChannelFullError and stores nothing", async () => {
        const layer = await make({ capacity: 3 });
        const ch = fresh("full");
        for (let i = 0; i < 3; i++) await layer.send(ch, { type: "n", i });
        const refused = layer.send(ch, { type: "n", i: 3 });
        await expect(refused).rejects.toBeInstanceOf(ChannelFullError);
        await expect(refused).rejects.toMatchObject({ code: "ERR_CHANNEL_FULL" });
        expect((await waits.drain(layer, ch, 3)).map((m) => m.i)).toEqual([0, 1, 2]);
        await layer.send(ch, { type: "n", i: 4 }); // room again once drained
        expect((await layer.receive(ch)).i).toBe(4);
      });

      it("counts a ! channel's capacity on its own name in the engine, and rejects when full", async () => {
        const layer = await make({ capacity: 2 });
        const ch = await layer.newChannel();
        await layer.send(ch, { type: "a" });
        await layer.send(ch, { type: "b" });
        await expect(layer.send(ch, { type: "c" })).rejects.toBeInstanceOf(ChannelFullError);
      });

      it("channelCapacity globs and regexes set per-channel capacity, first match wins", async () => {
        const layer = await make({
          capacity: 2,
          channelCapacity: [
            ["http.response!*", 5],
            [/^big-[0-9]+$/, 4],
            ["big-1*", 1], // never reached for big-1…: the regex above matches first
            ["s[!x]?", 1],
          ],
        });
        const fill = async (ch: string): Promise<number> => {
          let n = 0;
          for (;;) {
            try {
              await layer.send(ch, { type: "x" });
              n++;
            } catch (err) {
              expect(err).toBeInstanceOf(ChannelFullError);
              return n;
            }
          }
        };
        const suffix = Date.now().toString(36);
        expect(await fill(`http.response!${suffix}`)).toBe(5);
        expect(await fill(`big-1${Date.now()}`)).toBe(4);
        expect(await fill(`big-x${suffix}`)).toBe(2);
        expect(await fill("sab")).toBe(1);
        expect(await fill("sxb")).toBe(2);
        await layer.flush();
      });

      it("channelCapacity as a record of globs", async () => {
        const layer = await make({ capacity: 1, channelCapacity: { "wide.*": 3 } });
        const wide = `wide.${fresh("x")}`;
        await layer.send(wide, { type: "1" });
        await layer.send(wide, { type: "2" });
        await layer.send(wide, { type: "3" });
        await expect(layer.send(wide, { type: "4" })).rejects.toBeInstanceOf(ChannelFullError);
        const narrow = fresh("narrow");
        await layer.send(narrow, { type: "1" });
        await expect(layer.send(narrow, { type: "2" })).rejects.toBeInstanceOf(ChannelFullError);
        await layer.flush();
      });

      it("groupSend skips full members and delivers to the rest", async () => {
        const layer = await make({ capacity: 1 });
        const group = fresh("fullgroup");
        const full = fresh("full-member");
        const open1 = fresh("open-member");
        await layer.groupAdd(group, full);
        await layer.groupAdd(group, open1);
        await layer.send(full, { type: "filler" });
        await layer.groupSend(group, { type: "news" }); // never raises
        expect((await layer.receive(open1)).type).toBe("news");
        expect((await waits.drain(layer, full, 1)).map((m) => m.type)).toEqual(["filler"]);
      });

      it("refuses a capacity that is not a positive integer or Infinity with a RangeError", async () => {
        for (const capacity of [0, -1, 1.5, NaN, "3"]) {
          await expect(async () => target.make({ capacity: capacity as number })).rejects.toBeInstanceOf(RangeError);
        }
        await expect(async () => target.make({ channelCapacity: { "a*": 0 } })).rejects.toBeInstanceOf(RangeError);
        const unlimited = await make({ capacity: Infinity });
        const ch = fresh("unlimited");
        for (let i = 0; i < 500; i++) await unlimited.send(ch, { type: "n" });
        await unlimited.flush();
      });
    });

    describe("expiry (docs/semantics.md §4.5)", () => {
      it("a message not received within expiry is gone", async () => {
        const layer = await make({ expiry: 0.2 });
        const ch = fresh("expire");
        await layer.send(ch, { type: "old" });
        await waits.elapse(350, slack);
        await layer.send(ch, { type: "new" });
        expect((await layer.receive(ch)).type).toBe("new");
        await waits.expectEmpty(layer, ch);
      });

      it("receive never returns a message older than expiry, even one waiting alone", async () => {
        const layer = await make({ expiry: 0.2 });
        const ch = fresh("expire-alone");
        await layer.send(ch, { type: "old" });
        await waits.elapse(350, slack);
        await waits.expectEmpty(layer, ch, 100);
      });

      it("a membership older than groupExpiry is gone; groupAdd again renews it", async () => {
        // The renewal comes late and the expiry is long, so that a sleep overshooting on a loaded
        // machine (which only ages `stale` more) leaves `renewed` 600 ms of room.
        const layer = await make({ groupExpiry: 1 });
        const group = fresh("gexp");
        const stale = fresh("stale");
        const renewed = fresh("renewed");
        await layer.groupAdd(group, stale);
        await layer.groupAdd(group, renewed);
        await waits.elapse(700);
        await layer.groupAdd(group, renewed);
        await waits.elapse(400, slack);
        await layer.groupSend(group, { type: "news" });
        expect((await layer.receive(renewed)).type).toBe("news");
        await waits.expectEmpty(layer, stale);
      });

      it("a channel that lets a message expire unread leaves its groups by the next groupSend", async () => {
        const layer = await make({ expiry: 0.2 });
        const group = fresh("deadgroup");
        const dead = fresh("dead");
        const alive = fresh("alive");
        await layer.groupAdd(group, dead);
        await layer.groupAdd(group, alive);
        await layer.groupSend(group, { type: "first" });
        expect((await layer.receive(alive)).type).toBe("first");
        await waits.elapse(350, slack);
        await layer.groupSend(group, { type: "second" });
        expect((await layer.receive(alive)).type).toBe("second");
        await waits.expectEmpty(layer, dead);
      });
    });

    describe("cancellation loses nothing (docs/semantics.md §4.6)", () => {
      it("an aborted receive rejects with the signal's reason", async () => {
        const layer = await make();
        const ch = fresh("abort");
        const controller = new AbortController();
        const pending = layer.receive(ch, { signal: controller.signal });
        controller.abort();
        await expect(pending).rejects.toMatchObject({ name: "AbortError" });
        const reason = new Error("my reason");
        const c2 = new AbortController();
        const p2 = layer.receive(ch, { signal: c2.signal });
        c2.abort(reason);
        await expect(p2).rejects.toBe(reason);
      });

      it("a receive with an already aborted signal rejects and takes nothing", async () => {
        const layer = await make();
        const ch = fresh("preabort");
        await layer.send(ch, { type: "keep" });
        await expect(layer.receive(ch, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
        expect((await layer.receive(ch)).type).toBe("keep");
      });

      it("a cancelled receive leaves its message at the head for the next receive", async () => {
        const layer = await make();
        const ch = fresh("cancel-head");
        const controller = new AbortController();
        const pending = layer.receive(ch, { signal: controller.signal });
        controller.abort();
        await expect(pending).rejects.toBeTruthy();
        await layer.send(ch, { type: "first" });
        await layer.send(ch, { type: "second" });
        expect((await layer.receive(ch)).type).toBe("first");
        expect((await layer.receive(ch)).type).toBe("second");
      });

      it("receives cancelled at random moments lose and duplicate nothing", async () => {
        const layer = await make({ capacity: Infinity });
        const sender = target.shared ? await make({ capacity: Infinity }) : layer;
        const ch = fresh("cancel-race");
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
          // Abort at once, after a microtask, or after a timer turn.
          const when = seen.length % 3;
          if (when === 0) controller.abort();
          else if (when === 1) queueMicrotask(() => controller.abort());
          else setTimeout(() => controller.abort(), 0);
          try {
            seen.push((await pending).i as number);
          } catch (err) {
            expect((err as Error).name).toBe("AbortError");
            const m = await waits.tryReceive(layer, ch, 200);
            if (m) seen.push(m.i as number);
          }
        }
        await sending;
        expect(seen).toEqual(Array.from({ length: total }, (_, i) => i));
        await waits.expectEmpty(layer, ch);
      });
    });

    describe("fairness (docs/semantics.md §4.7)", () => {
      it("a busy channel does not starve a quiet one", async () => {
        const layer = await make({ capacity: Infinity });
        const busy = fresh("busy");
        const quiet = fresh("quiet");
        let stop = false;
        // Both loops yield to the event loop each turn: a backend whose calls resolve at
        // once would otherwise hold the loop with microtasks, which says nothing of the layer.
        const flood = (async () => {
          while (!stop) {
            await Promise.all(Array.from({ length: 50 }, () => layer.send(busy, { type: "noise" })));
            await tick();
          }
        })();
        const drainer = (async () => {
          while (!stop) {
            await tryReceive(layer, busy, 20);
            await tick();
          }
        })();
        const got = layer.receive(quiet);
        await sleep(20); // the flood never lets the layer settle
        await layer.send(quiet, { type: "hello" });
        const winner = await Promise.race([got, sleep(2000).then(() => undefined)]);
        stop = true;
        await Promise.all([flood, drainer]);
        expect(winner?.type).toBe("hello");
        await layer.flush();
      });
    });

    describe("groups", () => {
      it("groupSend reaches every member once; groupDiscard removes one", async () => {
        const layer = await make();
        const group = fresh("room");
        const members = [fresh("m1"), fresh("m2"), await layer.newChannel()];
        for (const m of members) await layer.groupAdd(group, m);
        await layer.groupAdd(group, members[0]!); // adding twice is one membership
        await layer.groupSend(group, { type: "hello" });
        for (const m of members) expect((await waits.drain(layer, m, 1)).map((x) => x.type)).toEqual(["hello"]);
        await layer.groupDiscard(group, members[1]!);
        await layer.groupSend(group, { type: "again" });
        expect((await layer.receive(members[0]!)).type).toBe("again");
        expect((await layer.receive(members[2]!)).type).toBe("again");
        await waits.expectEmpty(layer, members[1]!);
      });

      it("each member gets its own copy of a group message", async () => {
        const layer = await make();
        const group = fresh("copies");
        const a = fresh("ca");
        const b = fresh("cb");
        await layer.groupAdd(group, a);
        await layer.groupAdd(group, b);
        await layer.groupSend(group, { type: "t", list: [1] });
        const ma = await layer.receive(a);
        (ma.list as number[]).push(2);
        expect((await layer.receive(b)).list).toEqual([1]);
      });

      it("sending to, or discarding from, a group that does not exist is fine", async () => {
        const layer = await make();
        await layer.groupSend(fresh("nobody"), { type: "t" });
        await layer.groupDiscard(fresh("nobody"), "x");
      });

      it("a waiting receive on a member gets the group message", async () => {
        const layer = await make();
        const group = fresh("waitgroup");
        const ch = await layer.newChannel();
        await layer.groupAdd(group, ch);
        const pending = layer.receive(ch);
        await waits.settled(layer, 10);
        await layer.groupSend(group, { type: "wake" });
        expect((await pending).type).toBe("wake");
      });

      it("groupSend with except leaves out the channels it names, one or several (docs/semantics.md §9)", async () => {
        const layer = await make();
        const group = fresh("except");
        const [a, b, c] = [await layer.newChannel(), fresh("eb"), await layer.newChannel()];
        for (const m of [a, b, c]) await layer.groupAdd(group, m);
        await layer.groupSend(group, { type: "not-a" }, { except: a });
        await layer.groupSend(group, { type: "only-c" }, { except: [a, b] });
        await layer.groupSend(group, { type: "all" }, { except: [] });
        await layer.groupSend(group, { type: "all-again" }, { except: fresh("not-a-member") });
        expect((await waits.drain(layer, a, 2)).map((x) => x.type)).toEqual(["all", "all-again"]);
        expect((await waits.drain(layer, b, 3)).map((x) => x.type)).toEqual(["not-a", "all", "all-again"]);
        expect((await waits.drain(layer, c, 4)).map((x) => x.type)).toEqual(["not-a", "only-c", "all", "all-again"]);
        await layer.groupSend(group, { type: "plain" }, { except: fresh("nobody") });
        expect(await layer.receive(c)).toEqual({ type: "plain" }); // nothing of except in what members get
      });

      it("groupSend refuses a bad except name with InvalidChannelNameError and sends nothing", async () => {
        const layer = await make();
        const group = fresh("except-bad");
        const ch = fresh("eg");
        await layer.groupAdd(group, ch);
        for (const bad of ["has space", "", 42, [ch, "a!b!c"], { name: ch }]) {
          await expect(layer.groupSend(group, { type: "t" }, { except: bad as string })).rejects.toBeInstanceOf(TypeError);
        }
        await expect(layer.groupSend(group, { type: "t" }, { except: "has space" })).rejects.toBeInstanceOf(InvalidChannelNameError);
        await waits.expectEmpty(layer, ch);
      });

      it.runIf(target.shared)("except works across instances: everyone in the room but the sender", async () => {
        const a = await make();
        const b = await make();
        const group = fresh("except-shared");
        const [inA, inB] = [await a.newChannel(), await b.newChannel()];
        await a.groupAdd(group, inA);
        await b.groupAdd(group, inB);
        await b.groupSend(group, { type: "from-b" }, { except: inB });
        await a.groupSend(group, { type: "from-a" }, { except: inA });
        expect((await waits.drain(a, inA, 1)).map((x) => x.type)).toEqual(["from-b"]);
        expect((await waits.drain(b, inB, 1)).map((x) => x.type)).toEqual(["from-a"]);
      });

      it("advertises the groups and flush extensions", async () => {
        const layer = await make();
        expect(layer.extensions).toContain("groups");
        expect(layer.extensions).toContain("flush");
      });
    });

    describe("flush and close (docs/semantics.md §4.8)", () => {
      it("flush empties channels and groups", async () => {
        const layer = await make();
        const ch = fresh("flush");
        const group = fresh("flushgroup");
        await layer.send(ch, { type: "gone" });
        await layer.groupAdd(group, ch);
        await layer.flush();
        await waits.expectEmpty(layer, ch);
        await layer.groupSend(group, { type: "nobody" });
        await waits.expectEmpty(layer, ch);
      });

      it("a receive waiting across a flush keeps waiting and gets the next message", async () => {
        const layer = await make();
        const ch = fresh("flushwait");
        const pending = layer.receive(ch);
        await waits.settled(layer, 10);
        await layer.flush();
        await layer.send(ch, { type: "after" });
        expect((await pending).type).toBe("after");
      });

      it("close ends pending receives with LayerClosedError and every later call rejects", async () => {
        const layer = await target.make();
        const ch = fresh("closing");
        const pending = layer.receive(ch);
        await waits.settled(layer, 10);
        await layer.close();
        await expect(pending).rejects.toBeInstanceOf(LayerClosedError);
        await expect(pending).rejects.toMatchObject({ code: "ERR_LAYER_CLOSED" });
        for (const call of [
          () => layer.send(ch, { type: "t" }),
          () => layer.receive(ch),
          () => layer.newChannel(),
          () => layer.groupAdd("g", ch),
          () => layer.groupDiscard("g", ch),
          () => layer.groupSend("g", { type: "t" }),
          () => layer.flush(),
        ]) {
          await expect(call()).rejects.toBeInstanceOf(LayerClosedError);
        }
        await layer.close(); // a second close is harmless
      });
    });
    describe("group history (docs/recovery.md)", () => historyCases(target, make, it));
    it.checkAllFound();
  });
}

