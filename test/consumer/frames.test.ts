import { describe, expect, it } from "vitest";
import { frameCodec } from "../../src/consumer/frames.js";

describe("JSON frames", () => {
  const json = frameCodec("json");
  it("write bigints as decimal strings, at any depth, and everything else as JSON.stringify does", () => {
    expect(json.encode({ a: 1, b: [2n, { c: -(2n ** 63n) }], s: "x" })).toBe('{"a":1,"b":["2",{"c":"-9223372036854775808"}],"s":"x"}');
    expect(json.encode({ a: 1, b: [true, null], s: "é" })).toBe(JSON.stringify({ a: 1, b: [true, null], s: "é" }));
  });
});
