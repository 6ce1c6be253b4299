import { describe, expect, it } from "vitest";
import { CachedClock, engineClock, READS_PER_READING } from "../../src/engine/clock.js";
import { TestClock } from "../../src/testing/clock.js";

describe("the cached clock (SPEC §4.5)", () => {
  it("reads its source once per 64 reads within a turn", () => {
    let t = 0;
    let readings = 0;
    const clock = new CachedClock(() => (readings++, ++t));
    for (let i = 0; i < READS_PER_READING; i++) expect(clock.now()).toBe(1);
    expect(readings).toBe(1);
    expect(clock.now()).toBe(2);
    expect(readings).toBe(2);
  });

  it("reads its source afresh after the turn ends, even within a microtask chain's next turn", async () => {
    let t = 0;
    const clock = new CachedClock(() => ++t);
    expect(clock.now()).toBe(1);
    expect(clock.now()).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.now()).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(clock.now()).toBe(3);
    // A timer that fires while nothing else runs sees a fresh reading too.
    const seen = await new Promise<number>((resolve) => setTimeout(() => resolve(clock.now()), 1));
    expect(seen).toBe(4);
  });
});

describe("the clock a layer or broker is given (engineClock)", () => {
  it("reads a function, or an object's now(), else the fallback; anything else is a TypeError", () => {
    const fallback = (): number => 7;
    expect(engineClock(undefined, fallback)).toBe(fallback);
    expect(engineClock(() => 3, fallback)()).toBe(3);
    const clock = new TestClock(5);
    const read = engineClock(clock, fallback);
    clock.advance(10);
    expect(read()).toBe(15);
    for (const bad of [42, "now", {}, null]) expect(() => engineClock(bad as never, fallback)).toThrow(/clock must be a function/);
  });
});
