import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChannelFullError } from "../../src/errors.js";
import { RingQueue } from "../../src/engine/queue.js";
import { DeadlineHeap, type HeapItem } from "../../src/engine/heap.js";
import { makeEngine } from "../engine/fixtures.js";
import { TestClock } from "../../src/testing/clock.js";
import { Model } from "./model.js";

const CHANNELS = ["a", "b", "c", "d"];
const GROUPS = ["g1", "g2"];

const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("send" as const), ch: fc.constantFrom(...CHANNELS) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("take" as const), ch: fc.constantFrom(...CHANNELS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("groupAdd" as const), g: fc.constantFrom(...GROUPS), ch: fc.constantFrom(...CHANNELS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("groupDiscard" as const), g: fc.constantFrom(...GROUPS), ch: fc.constantFrom(...CHANNELS) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("groupSend" as const), g: fc.constantFrom(...GROUPS) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 4_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("sweep" as const), budget: fc.constantFrom(1, 3, Infinity) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "flush" as const }) },
);

describe("engine against the reference model (property)", () => {
  it("never delivers twice, loses only by expiry, capacity or flush, keeps FIFO and group membership", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const clock = new TestClock(1_000);
        const engine = makeEngine(clock, { expiry: 5, groupExpiry: 9, capacity: 3 });
        const model = new Model(5_000, 9_000, 3);
        const delivered = new Set<string>();
        let next = 0;
        for (const o of ops) {
          const now = clock.now();
          switch (o.kind) {
            case "send": {
              const id = next++;
              let stored = true;
              try {
                engine.send(o.ch, id);
              } catch (err) {
                expect(err).toBeInstanceOf(ChannelFullError);
                stored = false;
              }
              expect(stored).toBe(model.send(o.ch, id, now));
              break;
            }
            case "take": {
              const got = engine.take(o.ch);
              expect(got).toBe(model.take(o.ch, now));
              if (got !== undefined) {
                // A group message reaches each member once: a duplicate is the same id on the same channel.
                expect(delivered.has(`${o.ch}:${got}`)).toBe(false);
                delivered.add(`${o.ch}:${got}`);
              }
              break;
            }
            case "groupAdd":
              engine.groupAdd(o.g, o.ch);
              model.groupAdd(o.g, o.ch, now);
              break;
            case "groupDiscard":
              engine.groupDiscard(o.g, o.ch);
              model.groupDiscard(o.g, o.ch);
              break;
            case "groupSend": {
              const id = next++;
              engine.groupSend(o.g, id);
              model.groupSend(o.g, id, now);
              break;
            }
            case "advance":
              clock.advance(o.ms);
              break;
            case "sweep":
              // A partial sweep may reclaim less than the model's full one; only
              // a full sweep is compared, a partial one must not change what is seen.
              if (o.budget === Infinity) {
                while (engine.sweep(1024));
                model.sweep(now);
              } else engine.sweep(o.budget);
              break;
            case "flush":
              engine.flush();
              model.flush();
              break;
          }
          // A partial sweep may already have reclaimed what is dead (an expired membership, or a
          // member that let a message expire); the model reclaims it later. Live ones must agree.
          for (const ch of CHANNELS) {
            const live = model.membersOf(ch).filter((g) => !model.isDead(g, ch, clock.now()));
            const held = engine.groupsOf(ch).sort();
            expect(held.filter((g) => !model.isDead(g, ch, clock.now()))).toEqual(live);
            for (const g of held) expect(model.membersOf(ch)).toContain(g);
          }
        }
        // Drain: what is left comes out in the model's order.
        for (const ch of CHANNELS) {
          for (let got = engine.take(ch); got !== undefined; got = engine.take(ch)) {
            expect(got).toBe(model.take(ch, clock.now()));
          }
          expect(model.take(ch, clock.now())).toBeUndefined();
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe("ring queue (property)", () => {
  it("behaves as an array under push, unshift, shift and dropExpired", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant("push"), fc.constant("unshift"), fc.constant("shift"), fc.constant("drop")), { maxLength: 3000 }),
        (ops) => {
          const q = new RingQueue<number>();
          const model: Array<[number, number]> = [];
          let n = 0;
          for (const o of ops) {
            if (o === "push") {
              q.push(n, n);
              model.push([n, n]);
              n++;
            } else if (o === "unshift") {
              // Deadlines stay sorted: a requeued head is never younger than the rest.
              const d = model.length ? model[0]![1] - 1 : n;
              q.unshift(-n, d);
              model.unshift([-n, d]);
              n++;
            } else if (o === "shift") expect(q.shift()).toBe(model.shift()?.[0]);
            else {
              const cut = model.length ? model[Math.floor(model.length / 2)]![1] : 0;
              let dropped = 0;
              while (model.length && model[0]![1] <= cut) {
                model.shift();
                dropped++;
              }
              expect(q.dropExpired(cut)).toBe(dropped);
            }
            expect(q.size).toBe(model.length);
            expect(q.headDeadline).toBe(model.length ? model[0]![1] : Infinity);
          }
        },
      ),
    );
  });
});

describe("deadline heap (property)", () => {
  it("pops in key order whatever was set, moved and removed", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 1000 }), fc.boolean()), { maxLength: 300 }), (ops) => {
        const heap = new DeadlineHeap<HeapItem & { id: number }>();
        const items = Array.from({ length: 31 }, (_, id) => ({ id, key: 0, heapIndex: -1 }));
        const model = new Map<number, number>();
        for (const [id, key, remove] of ops) {
          if (remove) {
            heap.remove(items[id]!);
            model.delete(id);
          } else {
            heap.set(items[id]!, key);
            model.set(id, key);
          }
        }
        const popped: number[] = [];
        for (let item = heap.pop(); item; item = heap.pop()) popped.push(item.key);
        expect(popped).toEqual([...model.values()].sort((a, b) => a - b));
      }),
    );
  });
});
