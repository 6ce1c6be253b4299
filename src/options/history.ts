/**
 * Group history (docs/recovery.md): the `groupHistory` option, checked once
 * when a layer or broker is made, and the one key under which a member's copy
 * carries its position.
 */
import { NoGroupHistoryError } from "../errors.js";
import type { GroupHistoryOptions, GroupHistoryRule, HistoryPosition, Message } from "../layer.js";
import { PatternRules } from "./patterns.js";
import { positiveOption } from "./positive-option.js";

/** The reserved key of a recorded message's position, the same on every backend (docs/recovery.md). */
export const POSITION_KEY = "__position__";

/** How much of a group's history is kept. */
export interface HistoryRule {
  /** Messages kept, at most. */
  size: number;
  /** Milliseconds each is kept, at most. */
  ttlMs: number;
}

/** Resolves a group name to how much of its history is kept, if any. */
export class HistoryRules {
  private readonly rules: PatternRules<HistoryRule>;

  constructor(patterns: GroupHistoryOptions | undefined) {
    this.rules = new PatternRules("groupHistory", patterns, (value, what) => {
      if (typeof value !== "object" || value === null) throw new TypeError(`${what} must be { size, ttl }, got ${String(value)}`);
      const { size, ttl } = value as { size?: unknown; ttl?: unknown };
      if (size === undefined || ttl === undefined) throw new TypeError(`${what} must be { size, ttl }: both are required`);
      return { size: positiveOption(size, `${what}.size`, 0, true), ttlMs: positiveOption(ttl, `${what}.ttl (seconds)`, 0) * 1000 };
    });
  }

  /** Whether any group may have history (none: nothing is looked up per send). */
  get any(): boolean {
    return this.rules.size > 0;
  }

  ruleOf(group: string): HistoryRule | undefined {
    return this.rules.size === 0 ? undefined : this.rules.match(group);
  }
}

/** `limit` of a history read: a positive integer, at most `max`. */
export function historyLimit(limit: unknown, max = Infinity): number {
  return Math.min(max, positiveOption(limit, "groupHistory limit", Infinity, true));
}

/** The position a message carries, if it is a well-formed one. */
export function positionOf(message: Message): HistoryPosition | undefined {
  const p = message[POSITION_KEY];
  if (typeof p !== "object" || p === null || Array.isArray(p) || p instanceof Uint8Array) return undefined;
  const { epoch, offset } = p as { epoch?: unknown; offset?: unknown };
  return typeof epoch === "string" && typeof offset === "number" ? { epoch, offset } : undefined;
}

/** Rejects a `since` that is not a position, in the caller's words. */
export function checkSince(since: HistoryPosition | undefined): HistoryPosition | undefined {
  if (since === undefined) return undefined;
  // Typed callers cannot get it wrong; JavaScript ones and the browser's JSON can.
  const { epoch, offset } = (typeof since === "object" && since !== null ? since : {}) as { epoch?: unknown; offset?: unknown };
  if (typeof epoch !== "string" || typeof offset !== "number" || !Number.isInteger(offset) || offset < 0) {
    throw new TypeError("groupHistory since must be a position { epoch: string, offset: non-negative integer }");
  }
  return { epoch, offset };
}

/** The error of a history read of a group no pattern keeps history for. */
export function noHistory(group: string): NoGroupHistoryError {
  return new NoGroupHistoryError(`group ${JSON.stringify(group)} keeps no history: no groupHistory pattern matches it`);
}

/**
 * `--group-history PATTERN=SIZE,TTL` flags (`serve`), in order: a RangeError
 * in the flag's words for one that is not of that form or whose numbers are
 * not positive.
 */
export function historyFlag(flags: readonly string[] | undefined): GroupHistoryOptions | undefined {
  if (flags === undefined) return undefined;
  return flags.map((flag): [string, GroupHistoryRule] => {
    const m = /^(.+)=([^=,]+),([^=,]+)$/.exec(flag);
    const size = Number(m?.[2]);
    const ttl = Number(m?.[3]);
    if (!m || !(Number.isInteger(size) && size > 0) || !(ttl > 0 && Number.isFinite(ttl))) {
      throw new RangeError(`--group-history must be PATTERN=SIZE,TTL with a positive whole SIZE and positive TTL seconds, e.g. "chat.*=1000,120"; got ${JSON.stringify(flag)}`);
    }
    return [m[1]!, { size, ttl }];
  });
}
