import { afterEach, describe, expect, it } from "vitest";
import { ChannelFullError, createChannelLayer, RedisChannelLayer, RedisPubSubChannelLayer, type ChannelLayer } from "../../src/index.js";
import { cleanPrefix, keysUnder, REDIS_URL, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis");

describe("createChannelLayer with redis:// URLs", () => {
  const open: ChannelLayer[] = [];
  const prefixes: string[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
    for (const p of prefixes.splice(0)) await cleanPrefix(p);
  });

  it("makes a RedisChannelLayer from the URL, with prefix and numeric options from the query", async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const layer = createChannelLayer(`${REDIS_URL}?prefix=${prefix}&capacity=2&group_expiry=30`);
    open.push(layer);
    expect(layer).toBeInstanceOf(RedisChannelLayer);
    expect((layer as RedisChannelLayer).prefix).toBe(prefix);
    await layer.send("via-url", { type: "a" });
    await layer.send("via-url", { type: "b" });
    await expect(layer.send("via-url", { type: "c" })).rejects.toBeInstanceOf(ChannelFullError);
    expect(await keysUnder(prefix)).toEqual([`${prefix}via-url`]);
    expect((await layer.receive("via-url")).type).toBe("a");
  });

  it("options given in code win over the query string", async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const layer = createChannelLayer(`${REDIS_URL}?prefix=ignored&capacity=1`, { prefix, capacity: 3 }) as RedisChannelLayer;
    open.push(layer);
    expect(layer.prefix).toBe(prefix);
    for (let i = 0; i < 3; i++) await layer.send("wins", { type: "n" });
    await expect(layer.send("wins", { type: "n" })).rejects.toBeInstanceOf(ChannelFullError);
  });

  it("knows rediss:// and rejects unknown query options with a clear error", () => {
    expect(() => createChannelLayer("redis://127.0.0.1:6379/0?colour=blue")).toThrow(/unknown option "colour"/);
    expect(() => createChannelLayer("redis://127.0.0.1:6379/0?connectionLostTimeout=soon")).toThrow(/must be a number/);
    expect(() => createChannelLayer("redis://127.0.0.1:6379/0?receiveLinger=")).toThrow(/"receiveLinger" .* must be a number/);
    expect(() => createChannelLayer("redis://127.0.0.1:6379/0?receiveLinger=-5")).toThrow(RangeError);
    expect(() => createChannelLayer("redis://127.0.0.1:6379/0?receiveLinger=5")).toThrow(/needs readAheadOutsideRedis: true/);
    expect(() => createChannelLayer("redis://127.0.0.1:6379/0?readAheadOutsideRedis=yes")).toThrow(/"readAheadOutsideRedis" .* must be true or false/);
    const ahead = createChannelLayer("redis://127.0.0.1:6379/0?readAheadOutsideRedis=true&receiveLinger=5");
    expect(ahead).toBeInstanceOf(RedisChannelLayer);
    void ahead.close();
    const tls = createChannelLayer("rediss://127.0.0.1:1/0", { connectionLostTimeout: 100 });
    expect(tls).toBeInstanceOf(RedisChannelLayer);
    return tls.close();
  });

  it("refuses hosts that are not a list, and bad Redis-only options, when the layer is made", () => {
    expect(() => new RedisChannelLayer({ hosts: "redis://x" as never })).toThrow(/list, even for one host/);
    expect(() => new RedisChannelLayer({ hosts: [] })).toThrow(/non-empty array/);
    expect(() => new RedisChannelLayer({ connectionLostTimeout: -1 })).toThrow(RangeError);
    expect(() => new RedisChannelLayer({ randomPrefixLength: 2.5 })).toThrow(RangeError);
    expect(() => new RedisChannelLayer({ symmetricEncryptionKeys: "secret" as never })).toThrow(/non-empty array/);
  });
});

describe("the real server runs the full path", () => {
  it("detects nested replies and cmsgpack on a real Redis (so receives block and group sends take one call)", async () => {
    const { Redis } = await import("ioredis");
    const { fullScripting, installScripts } = await import("../../src/redis/scripts.js");
    const client = installScripts(new Redis(REDIS_URL));
    try {
      expect(await fullScripting(client)).toBe(true);
    } finally {
      client.disconnect();
    }
  });
});

describe("hosts in every form channels_redis accepts", () => {
  it("turns URLs, pairs, address dicts and Sentinel dicts into ioredis targets", async () => {
    const { resolveHost, describeHost } = await import("../../src/redis/connections.js");
    expect(resolveHost("redis://:pw@h:1/2")).toBe("redis://:pw@h:1/2");
    expect(resolveHost(["10.0.0.1", 6380])).toEqual({ host: "10.0.0.1", port: 6380 });
    expect(resolveHost({ address: "rediss://h:6380" })).toBe("rediss://h:6380");
    expect(resolveHost({ master_name: "mymaster", sentinels: [["s1", 26379], { host: "s2", port: 26380 }], sentinel_kwargs: { password: "sp" }, db: 3 })).toEqual({
      name: "mymaster",
      sentinels: [{ host: "s1", port: 26379 }, { host: "s2", port: 26380 }],
      sentinelPassword: "sp",
      db: 3,
    });
    expect(resolveHost({ sentinels: [{ host: "s", port: 1 }], name: "m" })).toEqual({ sentinels: [{ host: "s", port: 1 }], name: "m" });
    expect(describeHost("redis://user:secret@h:1/0")).toBe("redis://***@h:1/0");
    expect(describeHost({ sentinels: [{ host: "s", port: 1 }], name: "m" })).toBe('sentinel master "m"');
  });
});

describe("redis+cluster:// URLs and the cluster option, refused before any connection", () => {
  it("moves the node list into the query so the URL parses, keeping credentials and options", async () => {
    const { clusterNodesToQuery } = await import("../../src/redis/url.js");
    expect(clusterNodesToQuery("redis+cluster://a:7000,b:7001/?prefix=p")).toBe("redis+cluster://cluster/?prefix=p&nodes=a%3A7000%2Cb%3A7001");
    expect(clusterNodesToQuery("rediss+cluster://u:pw@a:7000")).toBe("rediss+cluster://u:pw@cluster?nodes=a%3A7000");
    expect(clusterNodesToQuery("redis://a:6379/0")).toBe("redis://a:6379/0");
  });

  it("says in one line what is wrong", () => {
    expect(() => createChannelLayer("redis+cluster:///?prefix=x")).toThrow(/names at least one node: redis\+cluster:\/\/host:port,host:port/);
    expect(() => createChannelLayer("redis+cluster://a:1/?slots=many")).toThrow(/option "slots" in channel layer URL must be a whole number, got "many"/);
    expect(() => createChannelLayer("redis+cluster://a:1/?slots=0")).toThrow(/cluster slots must be a whole number from 1 to 1024, got 0/);
    expect(() => new RedisChannelLayer({ cluster: { nodes: [] } })).toThrow(/cluster.nodes must be a non-empty array/);
    expect(() => new RedisChannelLayer({ cluster: { nodes: ["a:1"] }, hosts: ["redis://a:1"] })).toThrow(/give hosts or cluster, not both/);
    expect(() => new RedisPubSubChannelLayer({ cluster: { nodes: ["a:1"] } })).toThrow(/Redis pub\/sub on a cluster needs sharded: true/);
    expect(() => createChannelLayer("redis+pubsub://a:1/?sharded=yes")).toThrow(/option "sharded" in channel layer URL must be true or false, got "yes"/);
  });
});
