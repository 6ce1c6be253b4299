/**
 * The layer on ioredis-mock: no BZPOPMIN and no nested script replies there,
 * so these run the polling receive path and the two-step group send. (The
 * conformance suite runs on the real Redis: the mock's Lua VM is too slow
 * under load for its timing cases.)
 */
import { randomBytes } from "node:crypto";
import RedisMock from "ioredis-mock";
import type { Redis, RedisOptions } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { ChannelFullError } from "../../src/index.js";
import { RedisChannelLayer, type RedisLayerOptions } from "../../src/redis/layer.js";
import { expectEmpty, sleep } from "../conformance/helpers.js";

const MockRedis = RedisMock as unknown as new (options: RedisOptions) => Redis;

/** Every layer made with the same `host` shares one mock server's data. */
function mockLayer(host: string, options: RedisLayerOptions = {}): RedisChannelLayer {
  return new RedisChannelLayer({
    hosts: [{ host, port: 6379 }],
    createClient: (target) => new MockRedis(typeof target === "string" ? { host } : { host: target.host, port: target.port }),
    ...options,
  });
}

describe("redis layer on ioredis-mock", () => {
  const open: RedisChannelLayer[] = [];
  const make = (host: string, options?: RedisLayerOptions) => {
    const layer = mockLayer(host, options);
    open.push(layer);
    return layer;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
  });

  const host = (): string => `mock-${randomBytes(4).toString("hex")}`;

  it("group history needs a real Redis: a send to a group with history and a read reject with a TypeError saying so", async () => {
    const layer = make(host(), { groupHistory: { "room.*": { size: 10, ttl: 10 } } });
    await expect(layer.groupSend("room.a", { type: "x" })).rejects.toThrow(/groupHistory needs a real Redis server/);
    await expect(layer.groupHistory("room.a")).rejects.toBeInstanceOf(TypeError);
    // Groups without history are untouched.
    await layer.groupSend("plain", { type: "x" });
  });

  it("polls when the client has no BZPOPMIN: a waiting receive gets a message sent later", async () => {
    const h = host();
    const a = make(h);
    const b = make(h);
    const pending = a.receive("later");
    await sleep(30);
    await b.send("later", { type: "hello", n: 2n ** 40n });
    expect(await pending).toEqual({ type: "hello", n: 2 ** 40 });
  });

  it("a cancelled receive on the polling path leaves its message for the next receive", async () => {
    const layer = make(host());
    const controller = new AbortController();
    const pending = layer.receive("cancelled", { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    await layer.send("cancelled", { type: "first" });
    await layer.send("cancelled", { type: "second" });
    expect((await layer.receive("cancelled")).type).toBe("first");
    expect((await layer.receive("cancelled")).type).toBe("second");
  });

  it("groupSend in two steps bundles a process's members into one member per key", async () => {
    const h = host();
    const layer = make(h);
    const probe = new MockRedis({ host: h });
    const a = await layer.newChannel();
    const b = await layer.newChannel();
    for (const ch of [a, b, "normal"]) await layer.groupAdd("room", ch);
    await layer.groupSend("room", { type: "news" });
    const processKey = `asgi${a.slice(0, a.indexOf("!") + 1)}`;
    expect(await probe.zcard(processKey)).toBe(1);
    expect(await layer.receive(a)).toEqual({ type: "news" });
    expect(await layer.receive(b)).toEqual({ type: "news" });
    expect(await layer.receive("normal")).toEqual({ type: "news" });
    await expectEmpty(layer, a);
    probe.disconnect();
  });

  it("groupSend skips a full member and never raises", async () => {
    const layer = make(host(), { capacity: 1 });
    await layer.groupAdd("g", "full");
    await layer.groupAdd("g", "open");
    await layer.send("full", { type: "filler" });
    await layer.groupSend("g", { type: "news" });
    expect((await layer.receive("open")).type).toBe("news");
    expect((await layer.receive("full")).type).toBe("filler");
    await expectEmpty(layer, "full");
  });

  it("lays keys out as channels_redis does: prefix + non-local name, groups under :group:", async () => {
    const h = host();
    const layer = make(h, { prefix: "asgi" });
    const probe = new MockRedis({ host: h });
    const mine = await layer.newChannel();
    await layer.send("plain-chan", { type: "a" });
    await layer.send(mine, { type: "b" });
    await layer.groupAdd("chat", mine);
    const keys = (await probe.keys("*")).sort();
    expect(keys).toEqual(["asgi:group:chat", "asgiplain-chan", `asgi${mine.slice(0, mine.indexOf("!") + 1)}`].sort());
    expect(await probe.zrange("asgi:group:chat", 0, -1)).toEqual([mine]);
    probe.disconnect();
  });

  it("counts a process's ! channels on their one shared key", async () => {
    const layer = make(`mock-${randomBytes(4).toString("hex")}`, { capacity: 2 });
    const a = await layer.newChannel();
    const b = await layer.newChannel();
    await layer.send(a, { type: "1" });
    await layer.send(b, { type: "2" });
    await expect(layer.send(a, { type: "3" })).rejects.toBeInstanceOf(ChannelFullError);
  });

  it("buffers messages for local channels nobody waits on, bounded by capacity, oldest dropped", async () => {
    const layer = make(`mock-${randomBytes(4).toString("hex")}`, { channelCapacity: [["*!idle", 3]] });
    const busy = await layer.newChannel();
    const idle = busy.slice(0, busy.indexOf("!") + 1) + "idle";
    for (let i = 0; i < 3; i++) await layer.send(idle, { type: "n", i });
    await layer.send(busy, { type: "wake" });
    // Receiving on busy pops the whole process key: idle's messages land in its local buffer…
    expect((await layer.receive(busy)).type).toBe("wake");
    for (let i = 3; i < 5; i++) await layer.send(idle, { type: "n", i });
    await layer.send(busy, { type: "wake" });
    expect((await layer.receive(busy)).type).toBe("wake");
    // …which holds at most idle's capacity, dropping the oldest (as channels_redis' BoundedQueue).
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await layer.receive(idle)).i);
    expect(got).toEqual([2, 3, 4]);
  });

  it("fails one receive with InvalidMessageError for a member it cannot decode, counts it, and keeps serving the channel", async () => {
    const h = host();
    const layer = make(h);
    const probe = new MockRedis({ host: h });
    await probe.zadd("asgigarbage", Date.now() / 1000, Buffer.from("not msgpack at all \xc1"));
    await layer.send("garbage", { type: "fine" });
    await expect(layer.receive("garbage")).rejects.toMatchObject({ name: "InvalidMessageError" });
    expect((await layer.receive("garbage")).type).toBe("fine");
    expect(layer.droppedMembers).toBe(1);
    probe.disconnect();
  });

  it("flush deletes only keys under its own prefix", async () => {
    const h = host();
    const a = make(h, { prefix: "asgi" });
    const b = make(h, { prefix: "other" });
    await a.send("x", { type: "a" });
    await b.send("x", { type: "b" });
    await a.flush();
    await expectEmpty(a, "x");
    expect((await b.receive("x")).type).toBe("b");
  });
});
