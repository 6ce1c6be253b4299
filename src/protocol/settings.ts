/** Checking the broker's and the client's own numeric options once, when they are made. */

/** `value`, or `fallback` when it is undefined; a RangeError unless it is a positive finite number (an integer if asked). */
export function positiveOption(value: unknown, what: string, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${what} must be a positive ${integer ? "integer" : "number"}, got ${String(value)}`);
  }
  return value;
}
