/**
 * `channelCapacity` (SPEC §3): fnmatch-style globs matched against the whole
 * name, or regexes used as given; first match wins.
 */
import type { ChannelCapacity } from "./layer.js";

type Rule = [RegExp, number];

/** Throws RangeError unless `value` is a positive integer or Infinity. */
export function assertCapacity(value: unknown, what: string): asserts value is number {
  if (typeof value !== "number" || !(value === Infinity || (Number.isInteger(value) && value > 0))) {
    throw new RangeError(`${what} must be a positive integer or Infinity, got ${String(value)}`);
  }
}

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;

/**
 * Translate an fnmatch pattern as Python's `fnmatch.translate` does:
 * `*`, `?`, `[seq]`, `[!seq]`; an unclosed `[` is a literal; case-sensitive.
 */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") out += "[\\s\\S]*";
    else if (c === "?") out += "[\\s\\S]";
    else if (c === "[") {
      let j = i + 1;
      if (glob[j] === "!") j++;
      if (glob[j] === "]") j++;
      while (j < glob.length && glob[j] !== "]") j++;
      if (j >= glob.length) {
        out += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, j);
      const negate = body.startsWith("!");
      if (negate) body = body.slice(1);
      // Inside a class only `\`, `]` and `^` need care; `-` keeps its range meaning.
      body = body.replace(/[\\\]^]/g, "\\$&");
      out += `[${negate ? "^" : ""}${body}]`;
      i = j;
    } else out += c.replace(REGEX_SPECIAL, "\\$&");
  }
  return new RegExp(`^(?:${out})$`);
}

/** Resolves a channel name to its capacity. */
export class CapacityRules {
  private readonly rules: Rule[];

  constructor(
    readonly defaultCapacity: number,
    patterns: ChannelCapacity | undefined,
  ) {
    assertCapacity(defaultCapacity, "capacity");
    const entries: Array<[string | RegExp, number]> = Array.isArray(patterns)
      ? patterns
      : Object.entries(patterns ?? {});
    this.rules = entries.map(([pattern, cap]) => {
      assertCapacity(cap, `channelCapacity[${String(pattern)}]`);
      if (pattern instanceof RegExp) return [pattern, cap];
      if (typeof pattern !== "string") {
        throw new TypeError(`channelCapacity keys must be glob strings or RegExps, got ${typeof pattern}`);
      }
      return [globToRegExp(pattern), cap];
    });
  }

  /** The capacity of `channel`: the first matching rule, else the default. */
  capacityOf(channel: string): number {
    for (const [re, cap] of this.rules) {
      re.lastIndex = 0; // a /g or /y regex keeps state between tests
      if (re.test(channel)) return cap;
    }
    return this.defaultCapacity;
  }
}
