/**
 * Traffic control options (priorities, rate limits, overflow policies, dead
 * letters), checked once when a layer is made. They change nothing when unset.
 */
import { PatternRules, type PatternMap } from "./patterns.js";
import { isProcessLocal } from "../names.js";
import { positiveOption } from "./positive-option.js";

/** What a full channel does with one more message. */
export type OverflowPolicy = "reject" | "drop-oldest" | "drop-newest";
export const OVERFLOW_POLICIES: readonly OverflowPolicy[] = ["reject", "drop-oldest", "drop-newest"];

/** `"50/s"`, `"600/m"`, `"1000/h"`, or that with a burst (default: one second's worth, at least 1). */
export type RateLimit = string | { rate: string; burst?: number };

export interface DeadLetterOptions {
  /** The channel that receives what the layer drops, wrapped with the reason. */
  channel: string;
  /** How many dead letters it holds; past that the oldest go. Default 1000. */
  capacity?: number;
}

/** Why the layer dropped a message (a dead letter's `reason`). */
export type DropReason = "expired" | "overflow" | "rate-limited";

export interface TrafficOptions {
  /** Default priority (0–9, higher first) of messages sent to matching channels. */
  channelPriority?: PatternMap<number>;
  /** Token-bucket limits on matching channels (sends and group deliveries) and groups (groupSends). */
  rateLimits?: PatternMap<RateLimit>;
  /** What a full matching channel does: "reject" (the default), "drop-oldest" or "drop-newest". */
  overflow?: PatternMap<OverflowPolicy>;
  /** A channel that receives what the layer drops. */
  deadLetters?: string | DeadLetterOptions;
}

/** A parsed rate: tokens per millisecond and the bucket size. */
export interface Rate {
  perMs: number;
  burst: number;
  text: string;
}

const UNIT_MS: Record<string, number> = { s: 1_000, sec: 1_000, second: 1_000, m: 60_000, min: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000 };

/** Parse `"20/s"` (also `/m`, `/h`) with an optional burst. */
export function parseRate(limit: unknown, what: string): Rate {
  const spec = typeof limit === "string" ? { rate: limit } : (limit as { rate?: unknown; burst?: unknown } | null);
  const text = spec?.rate;
  const m = typeof text === "string" ? /^\s*(\d+(?:\.\d+)?)\s*\/\s*([a-z]+)\s*$/.exec(text) : null;
  const unit = m ? UNIT_MS[m[2]!] : undefined;
  if (!m || unit === undefined || !(Number(m[1]) > 0)) {
    throw new RangeError(`${what} must be a rate like "50/s", "600/m" or "1000/h" (or { rate, burst }), got ${JSON.stringify(limit)}`);
  }
  const perMs = Number(m[1]) / unit;
  const burst = positiveOption(spec?.burst ?? undefined, `${what}.burst`, Math.max(1, Math.floor(perMs * 1_000)), true);
  return { perMs, burst, text: text as string };
}

/** Throws RangeError unless `priority` is an integer 0–9. */
export function assertPriority(priority: unknown, what = "priority"): asserts priority is number {
  if (typeof priority !== "number" || !Number.isInteger(priority) || priority < 0 || priority > 9) {
    throw new RangeError(`${what} must be an integer from 0 to 9 (higher first), got ${String(priority)}`);
  }
}

export interface TrafficRules {
  priority: PatternRules<number>;
  rate: PatternRules<Rate>;
  overflow: PatternRules<OverflowPolicy>;
  deadLetters: { channel: string; capacity: number } | undefined;
}

export function resolveTraffic(options: TrafficOptions): TrafficRules {
  let deadLetters: TrafficRules["deadLetters"];
  const dl = options.deadLetters;
  if (dl !== undefined) {
    const spec = typeof dl === "string" ? { channel: dl } : dl;
    if (typeof spec?.channel !== "string" || isProcessLocal(spec.channel)) {
      throw new TypeError(`deadLetters must name a normal channel (no "!"), got ${JSON.stringify(dl)}`);
    }
    const capacity = positiveOption(spec.capacity, "deadLetters.capacity", 1000, true);
    deadLetters = { channel: spec.channel, capacity };
  }
  return {
    priority: new PatternRules("channelPriority", options.channelPriority, (value, what) => {
      assertPriority(value, what);
      return value;
    }),
    rate: new PatternRules("rateLimits", options.rateLimits, parseRate),
    overflow: new PatternRules("overflow", options.overflow, (value, what) => {
      if (!OVERFLOW_POLICIES.includes(value as OverflowPolicy)) {
        throw new RangeError(`${what} must be one of ${OVERFLOW_POLICIES.join(", ")}, got ${JSON.stringify(value)}`);
      }
      return value as OverflowPolicy;
    }),
    deadLetters,
  };
}
