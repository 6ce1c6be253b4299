import { describe, expect, it } from "vitest";
import { positiveFlag } from "../../src/cli/words.js";
import { resolveOptions } from "../../src/options/layer-options.js";
import { BrokerServer, InMemoryChannelLayer, RemoteChannelLayer } from "../../src/index.js";
import { delayOption, MAX_DELAY_MS, positiveOption, positiveOrOff } from "../../src/options/positive-option.js";

describe("the one rule for numeric options (docs/semantics.md §3.3)", () => {
  it("takes a positive finite number, or the fallback when absent", () => {
    expect(positiveOption(undefined, "x", 7)).toBe(7);
    expect(positiveOption(0.5, "x", 7)).toBe(0.5);
    expect(positiveOption(3, "x", 7, true)).toBe(3);
  });

  it("refuses zero, negatives, NaN, Infinity, non-numbers, and fractions for an integer, with a RangeError naming it", () => {
    for (const bad of [0, -1, Number.NaN, Infinity, "5", null]) {
      expect(() => positiveOption(bad, "heartbeatInterval (ms)", 1)).toThrow(RangeError);
    }
    expect(() => positiveOption(Infinity, "blockTimeout (s)", 1)).toThrow("blockTimeout (s) must be a positive number, got Infinity");
    expect(() => positiveOption(1.5, "maxConnections", 1, true)).toThrow("maxConnections must be a positive integer, got 1.5");
  });

  it("0 turns an option off where the option allows it", () => {
    expect(positiveOrOff(0, "receiveLinger (ms)", 10)).toBe(0);
    expect(positiveOrOff(undefined, "receiveLinger (ms)", 10)).toBe(10);
    expect(() => positiveOrOff(-1, "receiveLinger (ms)", 10)).toThrow(RangeError);
  });

  it("a timer's milliseconds stop at the longest delay Node keeps (past it a timer fires at once)", () => {
    expect(delayOption(MAX_DELAY_MS, "x (ms)", 1)).toBe(MAX_DELAY_MS);
    expect(() => delayOption(MAX_DELAY_MS + 1, "heartbeatInterval (ms)", 1)).toThrow(/heartbeatInterval \(ms\) must be at most 2147483647/);
    expect(() => positiveOrOff(30 * 86_400_000, "receiveLinger (ms)", 10)).toThrow(RangeError);
    expect(() => new BrokerServer({ localGrace: 30 * 86_400_000 })).toThrow(RangeError);
    expect(() => new RemoteChannelLayer("tcp://127.0.0.1:1", { connectTimeout: 30 * 86_400_000 })).toThrow(RangeError);
    expect(() => new InMemoryChannelLayer({ sweepInterval: -5 })).toThrow("sweepInterval (ms) must be a positive number, got -5");
  });

  it("layer options follow it: an infinite expiry and a fractional maxMessageBytes are refused when the layer is made", () => {
    expect(() => resolveOptions({ expiry: Infinity })).toThrow("expiry (seconds) must be a positive number, got Infinity");
    expect(() => resolveOptions({ maxMessageBytes: 1.5 })).toThrow("maxMessageBytes must be a positive integer, got 1.5");
  });
});

describe("a flag's number, in the flag's words", () => {
  it("reads positive numbers, integers and, where allowed, inf", () => {
    expect(positiveFlag(undefined, "--expiry")).toBeUndefined();
    expect(positiveFlag("2.5", "--expiry")).toBe(2.5);
    expect(positiveFlag("inf", "--capacity", { integer: true, infinity: true })).toBe(Infinity);
  });

  it("names the flag and what it got", () => {
    expect(() => positiveFlag("inf", "--expiry")).toThrow('--expiry must be a positive number, got "inf"');
    expect(() => positiveFlag("lots", "--max-connections", { integer: true })).toThrow(
      '--max-connections must be a positive integer, got "lots"',
    );
    const capacity = { integer: true, infinity: true };
    expect(() => positiveFlag("1.5", "--capacity", capacity)).toThrow('--capacity must be a positive integer or "inf", got "1.5"');
  });
});
