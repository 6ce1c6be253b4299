/** Capacity (docs/semantics.md §4.4): a default, and `channelCapacity` patterns over it. */
import type { ChannelCapacity } from "../layer.js";
import { PatternRules } from "./patterns.js";

/** Throws RangeError unless `value` is a positive integer or Infinity. */
export function assertCapacity(value: unknown, what: string): asserts value is number {
  if (typeof value !== "number" || !(value === Infinity || (Number.isInteger(value) && value > 0))) {
    throw new RangeError(`${what} must be a positive integer or Infinity, got ${String(value)}`);
  }
}

/** Resolves a channel name to its capacity. */
export class CapacityRules {
  private readonly rules: PatternRules<number>;

  constructor(
    readonly defaultCapacity: number,
    patterns: ChannelCapacity | undefined,
  ) {
    assertCapacity(defaultCapacity, "capacity");
    this.rules = new PatternRules("channelCapacity", patterns, (value, what) => {
      assertCapacity(value, what);
      return value;
    });
  }

  /** The capacity of `channel`: the first matching rule, else the default. */
  capacityOf(channel: string): number {
    return this.rules.match(channel) ?? this.defaultCapacity;
  }
}
