import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { makeEngine } from "../engine/fixtures.js";
import { TestClock } from "../../src/testing/clock.js";

const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("send" as const), priority: fc.integer({ min: 0, max: 9 }) }) },
  { weight: 4, arbitrary: fc.constant({ kind: "take" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "requeue" as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 3_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "sweep" as const }) },
);

describe("priority and expiry together (property)", () => {
  it("take returns the highest priority, oldest first within it, never an expired one", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
        const clock = new TestClock(1_000);
        const engine = makeEngine(clock, { expiry: 5, capacity: Infinity });
        // The model: every stored message with its priority and deadline, in arrival order.
        let model: Array<{ id: number; priority: number; deadline: number }> = [];
        let next = 0;
        const out = { deadline: 0, priority: 0 };
        for (const o of ops) {
          const now = clock.now();
          model = model.filter((m) => m.deadline > now);
          if (o.kind === "send") {
            engine.send("c", next, o.priority);
            model.push({ id: next++, priority: o.priority, deadline: now + 5_000 });
          } else if (o.kind === "take" || o.kind === "requeue") {
            const got = engine.take("c", out);
            const best = model.reduce<(typeof model)[number] | undefined>((a, m) => (!a || m.priority > a.priority ? m : a), undefined);
            expect(got).toBe(best?.id);
            if (best) {
              expect(out).toEqual({ deadline: best.deadline, priority: best.priority });
              if (o.kind === "take") model = model.filter((m) => m !== best);
              // A cancelled hand-over puts it back where it was.
              else engine.settle("c", 0, [got!], [out.deadline], [out.priority]);
            }
          } else if (o.kind === "advance") clock.advance(o.ms);
          else while (engine.sweep(7));
          // Every op but a clock advance has just reclaimed what expired, so the counts agree.
          if (o.kind !== "advance") expect(engine.stats().messages).toBe(model.length);
        }
      }),
      { numRuns: 400 },
    );
  });
});
