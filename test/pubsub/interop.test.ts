/**
 * The pub/sub layer against the real thing: Debian's channels_redis
 * RedisPubSubChannelLayer in a Python child (test/pubsub/peer.py), both ways,
 * on the shared Redis and on two private servers for sharding.
 */
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Message } from "../../src/index.js";
import { RedisPubSubChannelLayer } from "../../src/redis/pubsub/layer.js";
import { consistentHash } from "../../src/redis/sharding.js";
import { fresh, sleep } from "../conformance/helpers.js";
import { OwnRedis } from "../redis/own-redis.js";
import { PythonPeer, toTagged } from "../redis/python-peer.js";
import { REDIS_URL, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis", "redis-server", "python");

const PEER = fileURLToPath(new URL("./peer.py", import.meta.url));

/** Wait until `channel` has `count` subscribers on the server at `url` (a subscription is asynchronous on the Python side). */
async function subscribers(url: string, channel: string, count: number): Promise<void> {
  const client = new Redis(url);
  try {
    const deadline = Date.now() + 5000;
    for (;;) {
      const [, n] = (await client.pubsub("NUMSUB", channel)) as [string, number];
      if (n === count) return;
      if (Date.now() > deadline) throw new Error(`${channel} has ${n} subscribers on ${url}, expected ${count}`);
      await sleep(5);
    }
  } finally {
    client.disconnect();
  }
}

const VALUES: Message = {
  type: "chat.message",
  text: "héllo ✓ 😀",
  n: 5,
  neg: -300,
  wide: 2 ** 40,
  f: 1.5,
  nil: null,
  yes: true,
  bytes: new Uint8Array([0, 1, 255]),
  list: [1, "two", [3]],
  nested: { a: { b: [] } },
};

describe("pub/sub interop with channels_redis' RedisPubSubChannelLayer", () => {
  const prefix = testPrefix();
  const open: Array<{ close(): Promise<void> }> = [];
  let python: PythonPeer;
  let node: RedisPubSubChannelLayer;

  beforeAll(async () => {
    python = await PythonPeer.start({ hosts: [REDIS_URL], prefix }, PEER);
    node = new RedisPubSubChannelLayer({ hosts: [REDIS_URL], prefix });
  });
  afterAll(async () => {
    await python.close();
    await node.close();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });

  it("publishes exactly the bytes Python's layer publishes (plain msgpack, no prefix)", async () => {
    const ch = fresh("bytes");
    const raw = new Redis(REDIS_URL);
    open.push({ close: async () => void raw.disconnect() });
    const got = new Promise<Buffer>((resolve) => raw.on("messageBuffer", (_c: Buffer, data: Buffer) => resolve(data)));
    await raw.subscribe(ch);
    // Every value but integers in [2^32, 2^63): msgpackr writes those as int64 (0xd3), Python as uint64 (0xcf);
    // both read either (docs/pubsub.md, "Wire").
    const { wide: _wide, ...exact } = VALUES;
    await node.send(ch, exact as Message);
    const python_ = (await python.call("serialize", { message: toTagged(exact as Message) })) as { $bytes: string };
    expect((await got).toString("base64")).toBe(python_.$bytes);
  });

  it("a normal channel: Node sends to a Python receive, Python sends to a Node receive", async () => {
    const ch = fresh("normal");
    const pyReceive = python.receive(ch, 5);
    await subscribers(REDIS_URL, ch, 1);
    await node.send(ch, VALUES);
    const got = await pyReceive;
    expect(got).toEqual({ ...VALUES, bytes: Buffer.from([0, 1, 255]) });

    const back = fresh("normal-back");
    const nodeReceive = node.receive(back);
    await subscribers(REDIS_URL, back, 1);
    await python.send(back, VALUES);
    const received = await nodeReceive;
    expect({ ...received, bytes: [...(received.bytes as Uint8Array)] }).toEqual({ ...VALUES, bytes: [0, 1, 255] });
  });

  it("process-specific channels both ways: Python's new_channel names and ours", async () => {
    const pyChannel = await python.newChannel();
    expect(pyChannel).toMatch(new RegExp(`^${prefix}specific\\.[0-9a-f]{32}$`));
    await node.send(pyChannel, { type: "to.python" });
    expect((await python.receive(pyChannel)).type).toBe("to.python");

    const mine = await node.newChannel();
    expect(mine).toMatch(new RegExp(`^${prefix}specific\\.${node.instanceId}![A-Za-z0-9]+$`));
    await python.send(mine, { type: "to.node", n: 1 });
    expect(await node.receive(mine)).toEqual({ type: "to.node", n: 1 });
  });

  it("a group with Python and Node members: each side's group_send reaches both", async () => {
    const group = fresh("room");
    const pyChannel = await python.newChannel();
    await python.groupAdd(group, pyChannel);
    const mine = await node.newChannel();
    await node.groupAdd(group, mine);
    await subscribers(REDIS_URL, `${prefix}__group__${group}`, 2);

    await node.groupSend(group, { type: "from.node" });
    expect((await python.receive(pyChannel)).type).toBe("from.node");
    expect((await node.receive(mine)).type).toBe("from.node");

    await python.groupSend(group, { type: "from.python" });
    expect((await python.receive(pyChannel)).type).toBe("from.python");
    expect((await node.receive(mine)).type).toBe("from.python");

    await node.groupDiscard(group, mine);
    await subscribers(REDIS_URL, `${prefix}__group__${group}`, 1);
    await node.groupSend(group, { type: "python.only" });
    expect((await python.receive(pyChannel)).type).toBe("python.only");
  });

  describe("over two Redis servers (sharding)", () => {
    let servers: OwnRedis[];
    let py: PythonPeer;
    let sharded: RedisPubSubChannelLayer;

    beforeAll(async () => {
      servers = [await OwnRedis.start(), await OwnRedis.start()];
      const hosts = servers.map((s) => s.url);
      py = await PythonPeer.start({ hosts, prefix }, PEER);
      sharded = new RedisPubSubChannelLayer({ hosts, prefix });
    });
    afterAll(async () => {
      await py.close();
      await sharded.close();
      for (const s of servers) await s.kill();
    });

    it("both sides put every channel and group on the shard crc32 picks, and messages cross", async () => {
      // Vectors from REDIS-WIRE.md: the choice is channels_redis' _consistent_hash.
      expect(consistentHash("key_one", 2)).toBe(1);
      expect(consistentHash("key_two", 2)).toBe(0);
      // Names are random: draw until each shard holds three, so both are crossed every run.
      const perShard: string[][] = [[], []];
      for (let i = 0; perShard.some((list) => list.length < 3); i++) {
        const name = fresh(`shard${i}`);
        const list = perShard[sharded.shardOf(name)]!;
        if (list.length < 3) list.push(name);
      }
      const names = perShard.flat();
      const used = new Set<number>();
      for (const name of names) {
        const shard = sharded.shardOf(name);
        used.add(shard);
        const pyReceive = py.receive(name, 5);
        await subscribers(servers[shard]!.url, name, 1);
        await subscribers(servers[1 - shard]!.url, name, 0);
        await sharded.send(name, { type: "across", name });
        expect(await pyReceive).toEqual({ type: "across", name });

        const nodeReceive = sharded.receive(name);
        await subscribers(servers[shard]!.url, name, 2); // Python stays subscribed after a receive; ours joins it there
        await py.send(name, { type: "back", name });
        expect(await nodeReceive).toEqual({ type: "back", name });
      }
      expect(used.size).toBe(2);

      const group = fresh("shardroom");
      const groupShard = sharded.shardOf(`${prefix}__group__${group}`);
      const pyChannel = await py.newChannel();
      await py.groupAdd(group, pyChannel);
      const mine = await sharded.newChannel();
      await sharded.groupAdd(group, mine);
      await subscribers(servers[groupShard]!.url, `${prefix}__group__${group}`, 2);
      await py.groupSend(group, { type: "sharded.group" });
      expect((await sharded.receive(mine)).type).toBe("sharded.group");
      expect((await py.receive(pyChannel)).type).toBe("sharded.group");
    });
  });
});
