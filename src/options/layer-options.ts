/** Checking `LayerOptions` once, when a layer is made (docs/semantics.md §3.3, §4.4). */
import { CapacityRules } from "./capacity.js";
import { HistoryRules } from "./history.js";
import { DEFAULTS, type LayerOptions } from "../layer.js";
import { positiveOption } from "./positive-option.js";
import { resolveTraffic, type TrafficRules } from "./traffic.js";

export interface ResolvedOptions {
  expiry: number;
  groupExpiry: number;
  capacity: CapacityRules;
  maxMessageBytes: number;
  /** Priorities, rate limits, overflow, dead letters: honoured by the engine backends. */
  traffic: TrafficRules;
  /** Groups that keep history (docs/recovery.md): honoured by the engine backends and Redis. */
  groupHistory: HistoryRules;
}

export function resolveOptions(options: LayerOptions = {}): ResolvedOptions {
  return {
    expiry: positiveOption(options.expiry, "expiry (seconds)", DEFAULTS.expiry),
    groupExpiry: positiveOption(options.groupExpiry, "groupExpiry (seconds)", DEFAULTS.groupExpiry),
    capacity: new CapacityRules(options.capacity ?? DEFAULTS.capacity, options.channelCapacity),
    maxMessageBytes: positiveOption(options.maxMessageBytes, "maxMessageBytes", DEFAULTS.maxMessageBytes, true),
    traffic: resolveTraffic(options),
    groupHistory: new HistoryRules(options.groupHistory),
  };
}
