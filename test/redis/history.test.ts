/**
 * Group history on a real Redis (docs/recovery.md, "On Redis"): the keys it
 * makes and only for groups with history, the epoch's reasons to change
 * (either key lost, a hash made by another Redis process), history kept
 * encrypted, and the read's bounds. The behaviour every backend shares is in
 * the conformance suite.
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { HistoryPosition, Message } from "../../src/index.js";
import { POSITION_KEY } from "../../src/options/history.js";
import type { RedisLayerOptions } from "../../src/redis/layer.js";
import type { RedisChannelLayer } from "../../src/redis/layer.js";
import type { RedisPubSubChannelLayer } from "../../src/redis/pubsub/layer.js";
import { makePubSub } from "../pubsub/helpers.js";
import { cleanPrefix, keysUnder, makeLayer, REDIS_URL, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis");

const HISTORY = { "room.*": { size: 100, ttl: 30 } };

describe("group history on Redis", () => {
  const prefix = testPrefix();
  const open: Array<RedisChannelLayer | RedisPubSubChannelLayer> = [];
  const client = new Redis(REDIS_URL);
  const layer = (options: RedisLayerOptions = {}): RedisChannelLayer => {
    const l = makeLayer(prefix, { groupHistory: HISTORY, ...options });
    open.push(l);
    return l;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
  });
  afterAll(async () => {
    await cleanPrefix(prefix);
    client.disconnect();
  });

  it("keeps a stream and an epoch hash per group with history, with a TTL, and nothing for other groups", async () => {
    const l = layer();
    const ch = await l.newChannel();
    await l.groupAdd("room.a", ch);
    await l.groupAdd("plain", ch);
    await l.groupSend("room.a", { type: "x", n: 1 });
    await l.groupSend("plain", { type: "x", n: 2 });
    const first = await l.receive(ch);
    expect(first[POSITION_KEY]).toEqual({ epoch: expect.stringMatching(/^[0-9a-f]{16}$/), offset: 1 });
    // A group without history: the bytes Python sends, no position.
    expect(await l.receive(ch)).toEqual({ type: "x", n: 2 });
    expect(await keysUnder(`${prefix}:history`)).toEqual([`${prefix}:history-epoch:room.a`, `${prefix}:history:room.a`]);
    expect(await client.type(`${prefix}:history:room.a`)).toBe("stream");
    const [id] = ((await client.xrange(`${prefix}:history:room.a`, "-", "+")) as Array<[string, string[]]>)[0]!;
    expect(id).toMatch(/^\d{13}-1$/);
    expect(await client.hget(`${prefix}:history-epoch:room.a`, "e")).toBe((first[POSITION_KEY] as unknown as HistoryPosition).epoch);
    const ttl = await client.pttl(`${prefix}:history:room.a`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it("starts a new epoch when the stream or the epoch hash is lost, or the hash was made by another Redis process", async () => {
    const l = layer();
    const group = "room.lost";
    const stream = `${prefix}:history:${group}`;
    const hash = `${prefix}:history-epoch:${group}`;
    const epochs: string[] = [];
    const check = async (lose: () => Promise<unknown>): Promise<void> => {
      await l.groupSend(group, { type: "x" });
      const before = (await l.groupHistory(group)).position;
      await lose();
      const after = await l.groupHistory(group, { since: before });
      expect(after).toEqual({ messages: [], position: { epoch: expect.any(String), offset: 0 }, recovered: false });
      expect(after.position.epoch).not.toBe(before.epoch);
      epochs.push(before.epoch, after.position.epoch);
    };
    await check(() => client.del(stream));
    await check(() => client.del(hash));
    await check(() => client.hset(hash, "r", "0000000000000000000000000000000000000000"));
    // Evicted or expired: the same as deleted, seen from the script.
    await check(() => client.pexpire(stream, 1).then(() => new Promise((r) => setTimeout(r, 20))));
    expect(new Set(epochs).size).toBeGreaterThanOrEqual(5);
  });

  it("keeps an encrypted layer's history encrypted, and reads it back", async () => {
    const l = layer({ symmetricEncryptionKeys: ["a secret"] });
    await l.groupSend("room.secret", { type: "x", text: "the plain text" });
    const [, fields] = ((await client.xrangeBuffer(`${prefix}:history:room.secret`, "-", "+")) as unknown as Array<[Buffer, Buffer[]]>)[0]!;
    expect(fields[1]!.includes("the plain text")).toBe(false);
    const read = await l.groupHistory("room.secret");
    expect(read.messages.map((m) => m.message.text)).toEqual(["the plain text"]);
    // Another key cannot read it: the read is not passed off as whole.
    const other = layer({ symmetricEncryptionKeys: ["another secret"] });
    expect(await other.groupHistory("room.secret", { since: { epoch: read.position.epoch, offset: 0 } })).toMatchObject({ messages: [], recovered: false });
  });

  it("records who a send left out only when it left someone out", async () => {
    const l = layer();
    const ch = await l.newChannel();
    await l.groupSend("room.x", { type: "x" });
    await l.groupSend("room.x", { type: "x" }, { except: ch });
    const entries = (await client.xrange(`${prefix}:history:room.x`, "-", "+")) as Array<[string, string[]]>;
    expect(entries.map(([, f]) => f.filter((_, i) => i % 2 === 0))).toEqual([["m"], ["m", "x"]]);
    expect(entries[1]![1][3]).toBe(`,${ch},`);
  });

  it("bounds a read: at most 4 MiB of bodies (a resume past it is recovered: false, a tail read keeps the newest)", async () => {
    const l = layer({ maxMessageBytes: 2 * 1024 * 1024 });
    const group = "room.big";
    const start = (await l.groupHistory(group)).position;
    const big = "x".repeat(900 * 1024);
    for (let n = 1; n <= 5; n++) await l.groupSend(group, { type: "x", n, big });
    expect(await l.groupHistory(group, { since: start })).toMatchObject({ messages: [], recovered: false });
    const tail = await l.groupHistory(group);
    expect(tail.messages.map((m) => m.message.n)).toEqual([2, 3, 4, 5]);
    expect((await l.groupHistory(group, { since: { epoch: start.epoch, offset: 2 } })).messages.map((m) => m.message.n)).toEqual([3, 4, 5]);
  });

  it("says in one line that history needs INFO when the Redis user may not run it", async () => {
    // A user of this test's own, removed after it: the server is shared.
    const user = `channel-layers-test-noinfo-${process.pid}`;
    await client.call("ACL", "SETUSER", user, "on", ">pw", "~*", "&*", "+@all", "-info");
    try {
      const url = new URL(REDIS_URL);
      url.username = user;
      url.password = "pw";
      const l = layer({ hosts: [url.href] });
      const ch = await l.newChannel();
      await l.groupAdd("room.acl", ch);
      const why = /^NOINFO groupHistory on Redis needs INFO server in its scripts \(the run_id tells a restarted Redis, whose history starts a new epoch\): allow this Redis user INFO \(ACL \+info\)$/;
      await expect(l.groupSend("room.acl", { type: "x" })).rejects.toThrow(why);
      await expect(l.groupHistory("room.acl")).rejects.toThrow(why);
      // Groups without history do not need it.
      await l.groupSend("plain.acl", { type: "x" });
      // Closed while its user still exists: a close after ACL DELUSER cut its connections hung
      // 30 s in 5 of 11 runs, at 7e4c69a too (not yet explained; the issue 23 note says so).
      await l.close();
    } finally {
      await client.call("ACL", "DELUSER", user);
    }
  });

  it("pub/sub keeps its keys hash-tagged with the group's channel, and flush deletes them", async () => {
    const p = makePubSub(prefix, { groupHistory: HISTORY });
    open.push(p);
    const ch = await p.newChannel();
    await p.groupAdd("room.ps", ch);
    await p.groupSend("room.ps", { type: "x" });
    const got: Message = await p.receive(ch);
    expect(got[POSITION_KEY]).toMatchObject({ offset: 1 });
    const name = p.groupChannel("room.ps");
    expect(await client.exists(`{${name}}:history`, `{${name}}:history-epoch`)).toBe(2);
    await p.flush();
    expect(await client.exists(`{${name}}:history`, `{${name}}:history-epoch`)).toBe(0);
  });
});
