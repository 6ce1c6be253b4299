import { describe, expect, it } from "vitest";
import { CapacityRules } from "../../src/options/capacity.js";
import { Engine } from "../../src/engine/engine.js";
import { RateLimitedError } from "../../src/errors.js";
import { resolveTraffic, type TrafficOptions } from "../../src/options/traffic.js";
import { TestClock } from "../../src/testing/clock.js";

function engineWith(clock: TestClock, traffic: TrafficOptions, capacity = 100): Engine<string> {
  return new Engine<string>({
    expiry: 60,
    groupExpiry: 86_400,
    capacity: new CapacityRules(capacity, undefined),
    clock: clock.now,
    traffic: resolveTraffic(traffic),
    deadLetter: (body, reason, channel, group) => `${reason}:${channel}:${group ?? ""}:${body}`,
  });
}

describe("rate limits under a fake clock", () => {
  it("a burst passes, then one message per interval, with retryAfterMs exact", () => {
    const clock = new TestClock(1_000);
    const engine = engineWith(clock, { rateLimits: { "r.*": { rate: "4/s", burst: 2 } } });
    engine.send("r.a", "1");
    engine.send("r.a", "2");
    let refused: unknown;
    try {
      engine.send("r.a", "3");
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).retryAfterMs).toBe(250);
    clock.advance(249);
    expect(() => engine.send("r.a", "3")).toThrow(RateLimitedError);
    clock.advance(1);
    engine.send("r.a", "3");
    expect(engine.counters.rateLimited).toBe(2);
  });

  it("a long quiet spell refills to the burst, never past it", () => {
    const clock = new TestClock(1_000);
    const engine = engineWith(clock, { rateLimits: { "*": "10/s" } });
    for (let i = 0; i < 10; i++) engine.send("c", String(i));
    expect(() => engine.send("c", "x")).toThrow(RateLimitedError);
    clock.advance(30_000); // far longer than a refill, shorter than the expiry
    for (let i = 0; i < 10; i++) engine.send("d", String(i)); // "d" has its own bucket
    for (let i = 0; i < 10; i++) expect(engine.take("c")).toBe(String(i));
    for (let i = 0; i < 10; i++) engine.send("c", String(i));
    expect(() => engine.send("c", "x")).toThrow(RateLimitedError);
  });

  it("a rate limit outlives the channel's idle grace until its bucket is full", () => {
    const clock = new TestClock(1_000);
    const engine = engineWith(clock, { rateLimits: { "*": { rate: "1/m", burst: 1 } } });
    engine.send("c", "1");
    expect(engine.take("c")).toBe("1");
    clock.advance(10_000);
    while (engine.sweep());
    expect(engine.hasChannel("c")).toBe(true); // forgetting it would hand out a free token
    expect(() => engine.send("c", "2")).toThrow(RateLimitedError);
    clock.advance(60_000);
    while (engine.sweep());
    expect(engine.hasChannel("c")).toBe(false);
  });

  it("per-pattern limits count, and dead letters record, skipped group deliveries", () => {
    const clock = new TestClock(1_000);
    const engine = engineWith(clock, { rateLimits: { "slow.*": { rate: "1/s", burst: 1 } }, deadLetters: "dead" });
    engine.groupAdd("g", "slow.1");
    engine.groupAdd("g", "fast.1");
    expect(engine.groupSend("g", "a")).toEqual({ delivered: 2, skipped: 0 });
    expect(engine.groupSend("g", "b")).toEqual({ delivered: 1, skipped: 1 });
    expect(engine.take("dead")).toBe("rate-limited:slow.1:g:b");
    expect(engine.counters).toMatchObject({ rateLimited: 1, deadLettered: 1 });
  });
});

describe("overflow and dead letters in the engine", () => {
  it("drop-oldest sacrifices the lowest priority first", () => {
    const clock = new TestClock(1_000);
    const engine = engineWith(clock, { overflow: { "*": "drop-oldest" }, deadLetters: "dead" }, 2);
    engine.send("c", "high", 9);
    engine.send("c", "low", 0);
    engine.send("c", "mid", 5);
    expect(engine.take("c")).toBe("high");
    expect(engine.take("c")).toBe("mid");
    expect(engine.take("dead")).toBe("overflow:c::low");
    expect(engine.counters.droppedOverflow).toBe(1);
  });

  it("expired messages become dead letters when they are reclaimed", () => {
    const clock = new TestClock(1_000);
    const engine = engineWith(clock, { deadLetters: { channel: "dead", capacity: 2 } });
    engine.send("a", "1");
    engine.send("b", "2");
    engine.send("c", "3");
    clock.advance(60_000);
    while (engine.sweep());
    // The dead-letter channel holds two, keeps the newest, and its own expired letters are not re-lettered.
    expect([engine.take("dead"), engine.take("dead"), engine.take("dead")]).toEqual(["expired:b::2", "expired:c::3", undefined]);
    expect(engine.counters).toMatchObject({ expired: 3, deadLettered: 3 });
  });

  it("an engine with dead letters needs a wrapper", () => {
    expect(
      () =>
        new Engine<string>({
          expiry: 1,
          groupExpiry: 1,
          capacity: new CapacityRules(1, undefined),
          clock: () => 0,
          traffic: resolveTraffic({ deadLetters: "d" }),
        }),
    ).toThrow(/deadLetter wrapper/);
  });
});
