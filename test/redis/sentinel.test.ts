/**
 * A Sentinel-configured Redis layer across a real failover: a master, its
 * replica and three sentinels started here; the master killed; the layer
 * follows the sentinels to the promoted replica by itself.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { Redis } from "ioredis";
import { RedisChannelLayer } from "../../src/redis/layer.js";
import { OwnSentinels } from "./own-cluster.js";
import { testPrefix } from "./helpers.js";

let sentinels: OwnSentinels;
beforeAll(async () => {
  sentinels = await OwnSentinels.start();
}, 60_000);
afterAll(() => sentinels?.stop());

it("a master killed: reconnecting → ready, gap, memberships restored, serving again within 10 s", async () => {
  const p = testPrefix();
  const hosts = [{ sentinels: sentinels.sentinelAddresses, name: sentinels.name }];
  const layer = new RedisChannelLayer({ hosts, prefix: p, connectionLostTimeout: 10_000 });
  const sender = new RedisChannelLayer({ hosts, prefix: p, connectionLostTimeout: 10_000 });
  const states: string[] = [];
  const gaps: string[] = [];
  layer.on("state", (s) => states.push(s));
  layer.on("gap", (g) => gaps.push(g.reason));
  try {
    await layer.whenReady();
    const member = await layer.newChannel("member.");
    await layer.groupAdd("room", member);
    // Make the replica miss the membership (as asynchronous replication may): only the layer's restore brings it back.
    const master = await sentinels.masterPort();
    const replica = new Redis({ host: "127.0.0.1", port: sentinels.servers.find((s) => s.port !== master)!.port });
    try {
      await replica.config("SET", "replica-read-only", "no");
      await replica.del(`${p}:group:room`);
      await replica.config("SET", "replica-read-only", "yes");
    } finally {
      replica.disconnect();
    }
    const waiting = layer.receive("across.failover");
    waiting.catch(() => {}); // awaited below; a failed assertion before that must not leave it unhandled
    const killedAt = Date.now();
    await sentinels.killMaster();
    const deadline = killedAt + 10_000;
    while ((layer.state !== "ready" || gaps.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(states).toContain("reconnecting");
    expect(layer.state).toBe("ready");
    expect(gaps).toEqual(["redis-restarted"]);
    await sender.send("across.failover", { type: "after" });
    expect(await waiting).toEqual({ type: "after" });
    await sender.groupSend("room", { type: "to.group" });
    expect(await layer.receive(member)).toEqual({ type: "to.group" });
    expect(Date.now() - killedAt).toBeLessThan(10_000);
  } finally {
    await Promise.all([layer.close(), sender.close()]);
  }
});
