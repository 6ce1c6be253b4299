/**
 * Presence when a process dies (docs/presence.md "When a process dies"), on
 * the broker over TCP and over IPC: two processes add members; one is
 * SIGKILLed and its members vanish within the bound, one presence.leave each
 * reaching the others; the other closes cleanly and its members vanish at
 * once. Also who may read presence, and what the broker refuses.
 */
import type { ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { BrokerFullError, ForbiddenError, RemoteChannelLayer, serveIpc, type Message } from "../../src/index.js";
import { decodeMessage, encodeMessage } from "../../src/dependencies/msgpack.js";
import { Op, Status } from "../../src/protocol/ops.js";
import { forkChild } from "../children.js";
import { sleep } from "../conformance/helpers.js";
import { helloClient, startBroker } from "./helpers.js";
import { FIXTURE, presenceMember, type PresenceMember } from "./fixtures/spawn-presence-member.js";

const GRACE_MS = 1000;
const GROUP = "room-kill";
const options = { groupPresence: { "room-*": { events: true } }, localGrace: GRACE_MS };

/** The test process's view of the broker: count the group, drain what its own member received. */
interface Observer {
  count(): Promise<number>;
  received(): Promise<Message[]>;
  close(): Promise<void>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

function member(url: string, count: number): PresenceMember {
  return presenceMember([url, GROUP, String(count)], children);
}

async function within(ms: number, ok: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await ok())) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await sleep(20);
  }
  return Date.now() - start;
}

/** Channels named by the presence events of one type. */
function named(messages: Message[], type: string): string[] {
  return messages.filter((m) => m.type === type).map((m) => m.channel as string);
}

async function scenario(url: string, observer: Observer, spawn: (child: ChildProcess) => void = () => {}): Promise<void> {
  const killed = member(url, 3);
  const closing = member(url, 2);
  spawn(killed.child);
  spawn(closing.child);
  await Promise.all([killed.ready, closing.ready]);
  expect(await observer.count()).toBe(1 + 3 + 2);
  const joins = named(await observer.received(), "presence.join");
  expect(joins).toHaveLength(1 + 3 + 2);

  killed.child.kill("SIGKILL");
  const took = await within(GRACE_MS + 3000, async () => (await observer.count()) === 3);
  expect(took).toBeLessThanOrEqual(GRACE_MS + 3000);
  const afterKill = await observer.received();
  const killedLeaves = named(afterKill, "presence.leave");
  expect(killedLeaves).toHaveLength(3);
  expect(new Set(killedLeaves).size).toBe(3);

  const closed = closing.closed();
  closing.child.stdin!.write("close\n");
  await closed;
  expect(await observer.count()).toBe(1); // at once: no grace to wait for
  await sleep(GRACE_MS + 300); // nothing more comes later (no second leave after the grace)
  const closedLeaves = named(await observer.received(), "presence.leave");
  expect(closedLeaves).toHaveLength(2);
  expect(new Set([...killedLeaves, ...closedLeaves]).size).toBe(5);
  expect(new Set([...killedLeaves, ...closedLeaves])).toEqual(new Set(joins.slice(1)));
}

describe("presence when a process dies", () => {
  it("broker over TCP: a SIGKILLed client's members leave after the grace, once each; a clean close at once", async () => {
    const { server, url } = await startBroker(options);
    const layer = new RemoteChannelLayer(url);
    try {
      const me = await layer.newChannel();
      await layer.groupAdd(GROUP, me, { presence: { who: "observer" } });
      const received = async (): Promise<Message[]> => {
        const out: Message[] = [];
        for (;;) {
          try {
            out.push(await layer.receive(me, { signal: AbortSignal.timeout(100) }));
          } catch {
            return out;
          }
        }
      };
      await scenario(url, { count: () => layer.presenceCount(GROUP), received, close: () => layer.close() });
    } finally {
      await layer.close();
      await server.close();
    }
  }, 30_000);

  it("IPC: a SIGKILLed child's members leave at once (the parent sees it exit), once each; a clean close at once", async () => {
    const first = forkChild(FIXTURE, [], { stdio: "ignore" }); // only to start the server with a target
    first.kill();
    const server = serveIpc(first, options);
    try {
      await server.ready;
      const engine = server.broker.engine;
      engine.groupAdd(GROUP, "observer", undefined, { info: encodeMessage({ type: "x" }) });
      const received = (): Promise<Message[]> => {
        const out: Message[] = [];
        for (let body = engine.take("observer"); body !== undefined; body = engine.take("observer")) {
          engine.settle("observer", 1);
          out.push(decodeMessage(body));
        }
        return Promise.resolve(out);
      };
      await scenario("ipc://", { count: () => Promise.resolve(engine.presenceCount(GROUP)), received, close: () => Promise.resolve() }, (child) => server.add(child));
    } finally {
      await server.close();
    }
  }, 30_000);

  it("a token reads presence only of groups it is granted, a read is bounded, and the broker checks the info", async () => {
    const { server, url } = await startBroker({
      maxMessageBytes: 4096,
      tokens: [
        { token: "all" },
        { token: "room-a", group: ["room-a*"], receive: ["*"] },
      ],
    });
    const admin = new RemoteChannelLayer(url, { token: "all" });
    const limited = new RemoteChannelLayer(url, { token: "room-a" });
    try {
      await admin.groupAdd("room-b", "b1", { presence: { secret: "x" } });
      await limited.groupAdd("room-a", "a1", { presence: { user: "ann" } });
      expect(await limited.presenceCount("room-a")).toBe(1);
      await expect(limited.presence("room-b")).rejects.toBeInstanceOf(ForbiddenError);
      await expect(limited.presenceCount("room-b")).rejects.toBeInstanceOf(ForbiddenError);
      await expect(limited.groupAdd("room-b", "a2", { presence: { user: "eve" } })).rejects.toBeInstanceOf(ForbiddenError);
      expect(await admin.presenceCount("room-b")).toBe(1);

      // What a client that skips the layer's checks sends: each refused with an error, the connection kept.
      const raw = await helloClient(url, undefined, "all");
      raw.send(
        [Op.Presence, 2, "room-a", 100_000],
        [Op.GroupAdd, 3, "room-a", "c1", null, Buffer.alloc(10_000)],
        [Op.GroupAdd, 4, "room-a", "c1", null, encodeMessage([1, 2] as never)],
        [Op.GroupAdd, 5, "room-a", "c1", null, "not bytes"],
        [Op.PresenceCount, 6, "room-a"],
      );
      for (const id of [2, 3, 4, 5]) expect((await raw.answer(id))[1]).toBe(Status.Error);
      expect(await raw.answer(6)).toEqual([6, Status.Ok, 1]);
      raw.socket.destroy();
    } finally {
      await admin.close();
      await limited.close();
      await server.close();
    }
  });

  it("presence info counts toward maxStoredBytes: a client cannot fill the broker with entries", async () => {
    const { server, url } = await startBroker({ maxStoredBytes: 64 * 1024 });
    const layer = new RemoteChannelLayer(url);
    try {
      const info = { blob: "x".repeat(10_000) };
      let added = 0;
      let refused: unknown;
      for (let i = 0; i < 20 && refused === undefined; i++) {
        await layer.groupAdd("room-full", `m${i}`, { presence: info }).then(() => added++, (err: unknown) => (refused = err));
      }
      expect(refused).toBeInstanceOf(BrokerFullError);
      expect(added).toBeGreaterThan(0);
      expect(await layer.presenceCount("room-full")).toBe(added); // the refused add added nothing
      expect(server.broker.engine.groupMembers("room-full")?.size).toBe(added);
      // Leaving gives the room back.
      await layer.groupDiscard("room-full", "m0");
      await layer.groupAdd("room-full", "again", { presence: info });
    } finally {
      await layer.close();
      await server.close();
    }
  });
});
