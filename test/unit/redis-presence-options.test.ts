/** Presence options of the Redis layers and the serve flag, checked before anything connects (docs/presence.md). */
import { describe, expect, it } from "vitest";
import { RedisChannelLayer } from "../../src/redis/layer.js";
import { RedisPubSubChannelLayer } from "../../src/redis/pubsub/layer.js";
import { PRESENCE_TIMEOUT, presenceSettings } from "../../src/redis/presence.js";
import { presenceFlag } from "../../src/options/presence.js";

/** A client factory that fails the test if a layer connects before refusing its options. */
const noConnection = (): never => {
  throw new Error("connected before the options were checked");
};

describe("Redis presence options", () => {
  it("a killed process's entries outlive it 15 s by default, within the 30 s the contract allows", () => {
    expect(PRESENCE_TIMEOUT).toBe(15);
    expect(presenceSettings({}).timeout).toBeLessThanOrEqual(30);
    expect(presenceSettings({ presenceTimeout: 2.5 }).timeout).toBe(2.5);
  });

  it("refuses a bad presenceTimeout or groupPresence with a RangeError or TypeError, before connecting", () => {
    for (const Layer of [RedisChannelLayer, RedisPubSubChannelLayer]) {
      for (const bad of [0, -1, Infinity, 3601, "5"]) {
        expect(() => new Layer({ presenceTimeout: bad as number, createClient: noConnection })).toThrow(/presenceTimeout \(s\) must be/);
      }
      expect(() => new Layer({ groupPresence: { "room.*": { events: "yes" as never } }, createClient: noConnection })).toThrow(TypeError);
    }
  });

  it("serve --group-presence takes group name globs and refuses anything else in the flag's words", () => {
    expect(presenceFlag(undefined)).toBeUndefined();
    expect(presenceFlag(["room.*", "lobby", "chat-[ab]?"])).toEqual([
      ["room.*", { events: true }],
      ["lobby", { events: true }],
      ["chat-[ab]?", { events: true }],
    ]);
    for (const bad of ["", "room.*=true", "room a", "x".repeat(201), "room:1"]) {
      expect(() => presenceFlag([bad])).toThrow(`--group-presence must be a group name pattern, a glob such as "room.*" (repeat the flag for several); got ${JSON.stringify(bad)}`);
    }
  });
});
