/** Checking `LayerOptions` once, when a layer is made (docs/semantics.md §3.3, §4.4). */
import { CapacityRules } from "./capacity.js";
import { DEFAULTS, type LayerOptions } from "./layer.js";
import { resolveTraffic, type TrafficRules } from "./traffic.js";

export interface ResolvedOptions {
  expiry: number;
  groupExpiry: number;
  capacity: CapacityRules;
  maxMessageBytes: number;
  /** Priorities, rate limits, overflow, dead letters: honoured by the engine backends. */
  traffic: TrafficRules;
}

function positive(value: unknown, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || Number.isNaN(value)) {
    throw new RangeError(`${what} must be a positive number, got ${String(value)}`);
  }
  return value;
}

export function resolveOptions(options: LayerOptions = {}): ResolvedOptions {
  const maxMessageBytes = positive(options.maxMessageBytes, "maxMessageBytes", DEFAULTS.maxMessageBytes);
  if (!Number.isInteger(maxMessageBytes)) throw new RangeError(`maxMessageBytes must be an integer, got ${maxMessageBytes}`);
  return {
    expiry: positive(options.expiry, "expiry (seconds)", DEFAULTS.expiry),
    groupExpiry: positive(options.groupExpiry, "groupExpiry (seconds)", DEFAULTS.groupExpiry),
    capacity: new CapacityRules(options.capacity ?? DEFAULTS.capacity, options.channelCapacity),
    maxMessageBytes,
    traffic: resolveTraffic(options),
  };
}
