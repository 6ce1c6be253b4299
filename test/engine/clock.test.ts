import { describe, expect, it } from "vitest";
import { CachedClock, READS_PER_READING } from "../../src/engine/clock.js";

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
