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
import { RedisPubSubChannelLayer } from "../../src/redis/pubsub/layer.js";
import { PUBSUB_LACKS } from "../pubsub/helpers.js";
import { REDIS_LACKS, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis-server");

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
  capabilities: REDIS_LACKS,
});

const pubsubPrefix = testPrefix();
describeChannelLayer("redis pub/sub, sharded, on a cluster", {
  make: (options) => new RedisPubSubChannelLayer({ cluster: { nodes: cluster.seeds.slice(0, 1) }, sharded: true, prefix: pubsubPrefix, connectionLostTimeout: 5000, ...options }),
  shared: true,
  capabilities: {
    ...PUBSUB_LACKS,
    trafficControl: "channels_redis' pub/sub layer keeps no such state, so Python peers could not honour it",
  },
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

  it("sends again, alone, a call that met MOVED in a pipeline whose other calls ran (one write per master per tick)", async () => {
    const p = testPrefix();
    const sender = makeLayer(p);
    const receiver = makeLayer(p);
    const tags = clusterTags(16);
    const slotOf = (shard: number): number => clusterSlot(tags[shard]!.slice(1, -1));
    // Two shards on one master: the one that moves, and one that stays.
    const moving = 9;
    const home = (await cluster.masterOf(slotOf(moving))).port;
    let staying = -1;
    for (let s = 0; s < 16 && staying < 0; s++) if (s !== moving && (await cluster.masterOf(slotOf(s))).port === home) staying = s;
    expect(staying).toBeGreaterThanOrEqual(0);
    const movingCh = nameOnShard("mixed.", moving);
    const stayingCh = nameOnShard("mixed.", staying);
    const group = nameOnShard("mixed-group.", staying);
    const members = [nameOnShard("mixed-m.", moving), nameOnShard("mixed-m.", staying)];
    try {
      for (const m of members) await sender.groupAdd(group, m);
      // The sender's clients learn the slot table (the moving slot on `home`) before the move.
      await Promise.all([sender.send(movingCh, { type: "warm" }), sender.send(stayingCh, { type: "warm" }), sender.groupSend(group, { type: "warm" })]);
      for (const ch of [movingCh, stayingCh, ...members]) expect((await receiver.receive(ch)).type).toBe("warm");
      expect(await cluster.moveSlot(slotOf(moving))).not.toBe(home);
      // One tick: both shards' sends, and a group send's shares for both, go to `home` in one pipeline; the moving one gets MOVED.
      await Promise.all([sender.send(movingCh, { type: "after" }), sender.send(stayingCh, { type: "after" }), sender.groupSend(group, { type: "after" })]);
      for (const ch of [movingCh, stayingCh, ...members]) expect((await receiver.receive(ch)).type).toBe("after");
      for (const ch of [movingCh, stayingCh, ...members]) await expect(receiver.receive(ch, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
    } finally {
      await sender.flush();
      await Promise.all([sender.close(), receiver.close()]);
    }
  });
});

// Last in the file: it kills a master (the cluster is stopped after it).
describe("redis cluster failover", () => {
  it("a master killed: reconnecting → ready, gap, memberships restored, serving again within 10 s", async () => {
    const p = testPrefix();
    const layer = makeLayer(p, { connectionLostTimeout: 10_000 });
    const sender = makeLayer(p, { connectionLostTimeout: 10_000 });
    const shard = 9;
    const tag = clusterTags(16)[shard]!;
    const slot = clusterSlot(tag.slice(1, -1));
    const group = nameOnShard("failover-group.", shard);
    const channel = nameOnShard("failover.", shard);
    const states: string[] = [];
    const gaps: string[] = [];
    layer.on("state", (s) => states.push(s));
    layer.on("gap", (g) => gaps.push(g.reason));
    // A sharded pub/sub layer with channels on every master, across the same failover.
    const pubsub = new RedisPubSubChannelLayer({ cluster: { nodes: cluster.seeds }, sharded: true, prefix: p, connectionLostTimeout: 10_000 });
    const pubsubStates: string[] = [];
    const pubsubGaps: string[] = [];
    pubsub.on("state", (s) => pubsubStates.push(s));
    pubsub.on("gap", (g) => pubsubGaps.push(g.reason));
    try {
      await layer.whenReady();
      const listening = await Promise.all(Array.from({ length: 30 }, () => pubsub.newChannel()));
      await pubsub.whenReady();
      const member = await layer.newChannel("member.");
      await layer.groupAdd(group, member);
      const master = await cluster.masterOf(slot);
      const replica = await cluster.replicaOf(master.port);
      // Make the replica miss the membership (as asynchronous replication may), so only the layer's restore brings it
      // back: delete the group key everywhere, then put it back on the master alone.
      const groupKey = `${tag}${p}:group:${group}`;
      const script = `local d, ttl = redis.call('DUMP', KEYS[1]), redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.set_repl(redis.REPL_NONE)
redis.call('RESTORE', KEYS[1], ttl, d)`;
      await cluster.command(master.port, "EVAL", script, 1, groupKey);
      await cluster.command(master.port, "WAIT", 1, 1000);
      expect(await cluster.exists(master.port, groupKey)).toBe(true);
      expect(await cluster.exists(replica, groupKey)).toBe(false);
      // A receive waiting across the failover, on a channel of the dying master's shard.
      const waiting = layer.receive(channel);
      waiting.catch(() => {}); // awaited below; a failed assertion before that must not leave it unhandled
      const killedAt = Date.now();
      await cluster.killMasterOf(slot);
      const deadline = killedAt + 10_000;
      const settled = (): boolean => layer.state === "ready" && gaps.length > 0 && pubsub.state === "ready" && pubsubGaps.length > 0;
      while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(states).toContain("reconnecting");
      expect(layer.state).toBe("ready");
      expect(gaps).toEqual(["redis-restarted"]);
      await sender.send(channel, { type: "after" });
      expect(await waiting).toEqual({ type: "after" });
      await sender.groupSend(group, { type: "to.group" });
      expect(await layer.receive(member)).toEqual({ type: "to.group" });
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      // Pub/sub: down, then every channel subscribed again on a live master, one gap, and deliveries to all of them.
      expect(pubsubStates).toContain("reconnecting");
      expect(pubsub.state).toBe("ready");
      expect(pubsubGaps).toEqual(["redis-restarted"]);
      await Promise.all(listening.map((c, i) => pubsub.send(c, { type: "after", i })));
      const got = await Promise.all(listening.map((c) => pubsub.receive(c, { signal: AbortSignal.timeout(5000) })));
      expect(got.map((m) => m.i)).toEqual(listening.map((_, i) => i));
      expect(Date.now() - killedAt).toBeLessThan(10_000);
    } finally {
      await Promise.all([layer.close(), sender.close(), pubsub.close()]);
    }
  });
});
