/**
 * The Redis layer on a real Redis Cluster (3 masters + 3 replicas, started
 * here): the whole conformance suite with its random model, keys in the
 * ring's slots, a slot moved while traffic runs, and a master killed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChannelLayer } from "../../src/index.js";
import { RedisChannelLayer, type RedisLayerOptions } from "../../src/redis/layer.js";
import { clusterSlot, clusterTags, consistentHash } from "../../src/redis/sharding.js";
import { describeChannelLayer } from "../../src/testing/index.js";
import { OwnCluster } from "./own-cluster.js";
import { testPrefix } from "./helpers.js";

let cluster: OwnCluster;
beforeAll(async () => {
  cluster = await OwnCluster.start();
}, 60_000);
afterAll(() => cluster?.stop());

function makeLayer(prefix: string, options: RedisLayerOptions = {}): RedisChannelLayer {
  return new RedisChannelLayer({ cluster: { nodes: cluster.seeds.slice(0, 1) }, prefix, connectionLostTimeout: 5000, ...options });
}

const prefix = testPrefix();
describeChannelLayer("redis cluster", {
  make: (options) => makeLayer(prefix, options),
  shared: true,
  capabilities: { trafficControl: "channels_redis' Redis layout has no priorities, rate limits, overflow policies or dead letters" },
});

describe("redis cluster placement", () => {
  it("spreads the ring's 16 tags evenly over the slot space, hence over 3 masters", async () => {
    const masters = await cluster.masters();
    const per = masters.map((m) => clusterTags(16).filter((t) => m.slots.some(([a, b]) => clusterSlot(t.slice(1, -1)) >= a && clusterSlot(t.slice(1, -1)) <= b)).length);
    expect(per.sort()).toEqual([5, 5, 6]);
  });

  it("is made by a redis+cluster:// URL naming several nodes", async () => {
    const layer = createChannelLayer(`${cluster.url}/?prefix=${testPrefix()}&slots=4`);
    try {
      const name = await layer.newChannel("url.");
      await layer.send(name, { type: "hello" });
      expect(await layer.receive(name)).toEqual({ type: "hello" });
      await layer.groupAdd("g", name);
      await layer.groupSend("g", { type: "to.group" });
      expect(await layer.receive(name)).toEqual({ type: "to.group" });
      await layer.flush();
    } finally {
      await layer.close();
    }
  });
});

/** A channel name (prefix `base`) that the ring of `slots` shards puts on shard `shard`. */
function nameOnShard(base: string, shard: number, slots = 16): string {
  for (let i = 0; ; i++) if (consistentHash(`${base}${i}`, slots) === shard) return `${base}${i}`;
}

describe("redis cluster keys", () => {
  it("puts each channel's key in its shard's slot, on more than one master", async () => {
    const p = testPrefix();
    const layer = makeLayer(p);
    try {
      const tags = clusterTags(16);
      for (let s = 0; s < 16; s++) await layer.send(nameOnShard("spread.", s), { type: "x" });
      const seen = new Set<number>();
      for (let s = 0; s < 16; s++) {
        const key = `${tags[s]}${p}${nameOnShard("spread.", s)}`;
        const master = await cluster.masterOf(clusterSlot(tags[s]!.slice(1, -1)));
        expect(await cluster.exists(master.port, key)).toBe(true);
        seen.add(master.port);
      }
      expect(seen.size).toBe(3);
    } finally {
      await layer.flush();
      await layer.close();
    }
  });

  it("loses and duplicates nothing while a slot moves to another master (ASK, then MOVED)", async () => {
    const p = testPrefix();
    // Room for the sender to run ahead of a receiver slowed by the move.
    const sender = makeLayer(p, { capacity: 1000 });
    const receiver = makeLayer(p, { capacity: 1000 });
    const shard = 5;
    const channel = nameOnShard("moving.", shard);
    const member = await receiver.newChannel("moving.");
    // The group's key moves too, and 150 more keys make the move last long enough for traffic to meet ASK.
    const group = nameOnShard("moving-group.", shard);
    await receiver.groupAdd(group, member);
    for (let i = 0, n = 0; n < 150; i++) {
      if (consistentHash(`filler.${i}`, 16) !== shard) continue;
      await sender.send(`filler.${i}`, { type: "filler" });
      n++;
    }
    const tag = clusterTags(16)[shard]!;
    const slot = clusterSlot(tag.slice(1, -1));
    const before = (await cluster.masterOf(slot)).port;
    const total = 300;
    try {
      const got: number[] = [];
      const fromGroup: number[] = [];
      const receiving = (async () => {
        while (got.length < total) got.push((await receiver.receive(channel)).n as number);
      })();
      const receivingGroup = (async () => {
        while (fromGroup.length < total) fromGroup.push((await receiver.receive(member)).n as number);
      })();
      const sending = (async () => {
        for (let n = 0; n < total; n++) {
          await sender.send(channel, { type: "m", n });
          await sender.groupSend(group, { type: "g", n });
          if (n % 10 === 0) await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await new Promise((r) => setTimeout(r, 100));
      const after = await cluster.moveSlot(slot, 10);
      await Promise.all([sending, receiving, receivingGroup]);
      expect(after).not.toBe(before);
      expect((await cluster.masterOf(slot)).port).toBe(after);
      expect(got).toEqual([...Array(total).keys()]);
      expect(fromGroup).toEqual([...Array(total).keys()]);
    } finally {
      await sender.flush();
      await Promise.all([sender.close(), receiver.close()]);
    }
  });
});
