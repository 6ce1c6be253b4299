/** The one rule for a numeric option of any layer, broker or server, checked when it is made (docs/semantics.md §3.3). */

/**
 * `value`, or `fallback` when it is undefined; a RangeError unless it is a
 * positive finite number (an integer if asked). Finite: a timer or a Redis TTL
 * given Infinity fails later, or fires at once. (Capacity, which may be
 * Infinity, has its own rule in capacity.ts.)
 */
export function positiveOption(value: unknown, what: string, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${what} must be a positive ${integer ? "integer" : "number"}, got ${String(value)}`);
  }
  return value;
}

/** The longest delay a Node timer keeps: past it, setTimeout fires at once (about 24.8 days). */
export const MAX_DELAY_MS = 2_147_483_647;

/** As positiveOption, for milliseconds a timer waits: at most MAX_DELAY_MS. */
export function delayOption(value: unknown, what: string, fallback: number): number {
  const ms = positiveOption(value, what, fallback);
  if (ms > MAX_DELAY_MS) throw new RangeError(`${what} must be at most ${MAX_DELAY_MS} (about 24.8 days, the longest timer Node keeps), got ${ms}`);
  return ms;
}

/** As delayOption, but 0 is allowed too: it turns the feature off (receiveLinger). */
export function positiveOrOff(value: unknown, what: string, fallback: number): number {
  return value === 0 ? 0 : delayOption(value, what, fallback);
}
