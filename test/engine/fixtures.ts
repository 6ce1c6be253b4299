import { CapacityRules } from "../../src/options/capacity.js";
import { Engine, type Waiter } from "../../src/engine/engine.js";
import type { TestClock } from "../../src/testing/clock.js";

export function makeEngine(
  clock: TestClock,
  options: { expiry?: number; groupExpiry?: number; capacity?: number } = {},
): Engine<number> {
  return new Engine<number>({
    expiry: options.expiry ?? 60,
    groupExpiry: options.groupExpiry ?? 86_400,
    capacity: new CapacityRules(options.capacity ?? 100, undefined),
    clock: clock.now,
  });
}

/** A waiter that records what it was handed, and can refuse. */
export class Recorder implements Waiter<number> {
  readonly got: Array<[number, number]> = [];
  constructor(private accept = true) {}
  deliver(body: number, deadline: number): boolean {
    if (!this.accept) return false;
    this.got.push([body, deadline]);
    return true;
  }
}
