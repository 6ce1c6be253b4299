/**
 * Per-name settings by pattern, as `channelCapacity` introduced them (docs/semantics.md §3.4)
 * and the traffic options reuse: fnmatch-style globs matched against the whole
 * name, or regexes used as given; first match wins.
 */

/** `{ "glob": value }`, or `[[glob or RegExp, value], …]` when order or regexes matter. */
export type PatternMap<V> = Record<string, V> | Array<[string | RegExp, V]>;

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
    } else out += c.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  }
  return new RegExp(`^(?:${out})$`);
}

export class PatternRules<V> {
  private readonly rules: Array<[RegExp, V]>;

  /**
   * `check(value, what)` validates each value (throwing a RangeError or
   * TypeError that names `what`) and returns what is stored for it.
   */
  constructor(option: string, patterns: PatternMap<unknown> | undefined, check: (value: unknown, what: string) => V) {
    if (patterns !== undefined && (typeof patterns !== "object" || patterns === null)) {
      throw new TypeError(`${option} must be an object of patterns or an array of [pattern, value] pairs`);
    }
    const entries: Array<[unknown, unknown]> = Array.isArray(patterns) ? patterns : Object.entries(patterns ?? {});
    this.rules = entries.map((entry) => {
      if (!Array.isArray(entry) || entry.length !== 2) throw new TypeError(`${option} entries must be [pattern, value] pairs`);
      const [pattern, value] = entry;
      const what = `${option}[${String(pattern)}]`;
      if (pattern instanceof RegExp) return [pattern, check(value, what)];
      if (typeof pattern !== "string") throw new TypeError(`${option} patterns must be glob strings or RegExps, got ${typeof pattern}`);
      return [globToRegExp(pattern), check(value, what)];
    });
  }

  get size(): number {
    return this.rules.length;
  }

  /** The value of the first rule whose pattern matches `name`. */
  match(name: string): V | undefined {
    for (const [re, value] of this.rules) {
      re.lastIndex = 0; // a /g or /y regex keeps state between tests
      if (re.test(name)) return value;
    }
    return undefined;
  }
}
