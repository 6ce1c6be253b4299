/**
 * Presence on Redis when a process dies (docs/presence.md "When a process
 * dies"), on the Redis layer and on pub/sub: two member processes join; one is
 * SIGKILLed and its members vanish from presence() within the bound, one
 * presence.leave each reaching every other member (two observing layers that
 * both sweep: the claim lets one of them announce each leave); the other
 * closes cleanly and its members vanish at once.
 */
import type { ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { Message, PresenceEntry } from "../../src/index.js";
import { RedisChannelLayer } from "../../src/redis/layer.js";
import { RedisPubSubChannelLayer } from "../../src/redis/pubsub/layer.js";
import { sleep } from "../conformance/helpers.js";
import { cleanPrefix, keysUnder, REDIS_URL, testPrefix } from "./helpers.js";
import { needs } from "../services.js";
import { presenceMember, type PresenceMember } from "../remote/fixtures/spawn-presence-member.js";

await needs("redis");

/** Seconds: short, so the test is quick; the default (15) is checked in the unit tier. */
const TIMEOUT = 2;
const GROUP = "room-kill";

const children: ChildProcess[] = [];
const prefixes: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});
afterAll(async () => {
  for (const p of prefixes) await cleanPrefix(p);
});

type Kind = "redis" | "pubsub";
type Layer = RedisChannelLayer | RedisPubSubChannelLayer;

function options(prefix: string): Record<string, unknown> {
  return { prefix, connectionLostTimeout: 3000, presenceTimeout: TIMEOUT, groupPresence: { "room-*": { events: true } } };
}

function member(kind: Kind, prefix: string, count: number): PresenceMember {
  const url = kind === "pubsub" ? REDIS_URL.replace(/^redis:/, "redis+pubsub:") : REDIS_URL;
  return presenceMember([url, GROUP, String(count), JSON.stringify(options(prefix))], children);
}

/** An observing layer with one member of its own, and what that member received so far. */
async function observer(kind: Kind, prefix: string): Promise<{ layer: Layer; me: string; received: Message[]; drain(): Promise<void> }> {
  const layer = kind === "pubsub" ? new RedisPubSubChannelLayer({ hosts: [REDIS_URL], ...options(prefix) }) : new RedisChannelLayer({ hosts: [REDIS_URL], ...options(prefix) });
  const me = await layer.newChannel("observer");
  await layer.groupAdd(GROUP, me, { presence: { who: "observer" } });
  const received: Message[] = [];
  const drain = async (): Promise<void> => {
    for (;;) {
      try {
        received.push(await layer.receive(me, { signal: AbortSignal.timeout(100) }));
      } catch {
        return;
      }
    }
  };
  return { layer, me, received, drain };
}

const named = (messages: Message[], type: string): string[] => messages.filter((m) => m.type === type).map((m) => m.channel as string);

async function everyEntry(layer: Layer): Promise<PresenceEntry[]> {
  const out: PresenceEntry[] = [];
  for (let page = await layer.presence(GROUP, { limit: 2 }); ; page = await layer.presence(GROUP, { limit: 2, after: page.next })) {
    out.push(...page.entries);
    if (page.next === undefined) return out;
  }
}

describe.each<Kind>(["redis", "pubsub"])("presence on %s when a process dies", (kind) => {
  it("a SIGKILLed process's members leave within the bound, once each to every member; a clean close at once", { timeout: 60_000 }, async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const one = await observer(kind, prefix);
    const two = await observer(kind, prefix);
    try {
      const killed = member(kind, prefix, 3);
      const closing = member(kind, prefix, 2);
      await Promise.all([killed.ready, closing.ready]);
      expect(await one.layer.presenceCount(GROUP)).toBe(2 + 3 + 2);
      const killedPid = killed.child.pid!;
      const ofKilled = (await everyEntry(one.layer)).filter((e) => e.info.pid === killedPid).map((e) => e.channel);
      expect(ofKilled).toHaveLength(3);

      killed.child.kill("SIGKILL");
      const start = Date.now();
      // Nobody reads presence meanwhile: the leaves come from the observers' periodic sweeps.
      while (named(one.received, "presence.leave").length < 3 || named(two.received, "presence.leave").length < 3) {
        if (Date.now() - start > TIMEOUT * 1000 * 2 + 3000) break;
        await Promise.all([one.drain(), two.drain()]);
      }
      const took = Date.now() - start;
      // The bound: the deadline (TIMEOUT) plus a sweep period (a third of it), with room for a loaded machine.
      expect(took).toBeLessThanOrEqual(TIMEOUT * 1000 * (4 / 3) + 2000);
      for (const o of [one, two]) expect(named(o.received, "presence.leave").sort()).toEqual([...ofKilled].sort());
      expect(await two.layer.presenceCount(GROUP)).toBe(2 + 2);

      const closed = closing.closed();
      closing.child.stdin!.write("close\n");
      await closed;
      expect(await one.layer.presenceCount(GROUP)).toBe(2); // at once: no deadline to wait for
      expect((await everyEntry(two.layer)).map((e) => e.channel).sort()).toEqual([one.me, two.me].sort());
      await sleep(TIMEOUT * 1000 * 1.5); // nothing more comes later: no second leave from a sweep
      await Promise.all([one.drain(), two.drain()]);
      for (const o of [one, two]) {
        const leaves = named(o.received, "presence.leave");
        expect(leaves).toHaveLength(5);
        expect(new Set(leaves).size).toBe(5);
      }
    } finally {
      await one.layer.close();
      await two.layer.close();
    }
    // No entry, owner or owned set is left; what is (the cursor counter) expires by itself.
    const left = await keysUnder(`${prefix}:presence:`);
    expect(left.filter((k) => /:presence:(info|order|owners|owned):?/.test(k))).toEqual([]);
    const client = new Redis(REDIS_URL);
    try {
      for (const key of left) expect(await client.pttl(key)).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
  });
});
