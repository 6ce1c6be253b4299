import { describe, expect, it } from "vitest";
import { CapacityRules } from "../../src/options/capacity.js";
import { globToRegExp } from "../../src/options/patterns.js";

describe("channelCapacity globs follow Python's fnmatch, whole name, case-sensitive", () => {
  const cases: Array<[string, string, boolean]> = [
    ["http.response!*", "http.response!abc", true],
    ["http.response!*", "http.response", false],
    ["chat.*", "chat.room.1", true],
    ["chat.*", "Chat.room", false],
    ["a?c", "abc", true],
    ["a?c", "ac", false],
    ["[abc]x", "bx", true],
    ["[!abc]x", "bx", false],
    ["[!abc]x", "dx", true],
    ["[a-c]1", "b1", true],
    ["[a-c]1", "d1", false],
    ["[]]x", "]x", true],
    ["[x", "[x", true], // an unclosed bracket is a literal
    ["a.b", "axb", false], // "." is literal
    ["a+b(c)", "a+b(c)", true],
    ["exact", "exact.more", false], // whole-name match
    ["*", "", true],
  ];
  for (const [glob, name, matches] of cases) {
    it(`${JSON.stringify(glob)} ${matches ? "matches" : "does not match"} ${JSON.stringify(name)}`, () => {
      expect(globToRegExp(glob).test(name)).toBe(matches);
    });
  }
});

describe("CapacityRules", () => {
  it("first match wins, else the default", () => {
    const rules = new CapacityRules(10, [
      ["a.*", 1],
      [/^a\.b/, 2],
      ["*", 3],
    ]);
    expect(rules.capacityOf("a.b")).toBe(1);
    expect(rules.capacityOf("zzz")).toBe(3);
    expect(new CapacityRules(10, { "x*": 4 }).capacityOf("y")).toBe(10);
  });

  it("a global regex is tested afresh each time", () => {
    const rules = new CapacityRules(10, [[/^g/g, 2]]);
    expect(rules.capacityOf("gx")).toBe(2);
    expect(rules.capacityOf("gx")).toBe(2);
  });

  it("refuses capacities that are not positive integers or Infinity", () => {
    for (const bad of [0, -1, 2.5, NaN, "5" as unknown as number]) {
      expect(() => new CapacityRules(bad, undefined)).toThrow(RangeError);
      expect(() => new CapacityRules(5, { "a*": bad })).toThrow(/channelCapacity\[a\*\]/);
    }
    expect(new CapacityRules(Infinity, undefined).capacityOf("a")).toBe(Infinity);
  });
});
