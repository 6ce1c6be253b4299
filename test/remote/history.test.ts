/** Group history on the broker (docs/recovery.md): the serve flag, a restart's new epoch, who may read, and how much. */
import { execFile, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, spawnBroker, stopBroker } from "../../bench/backends/broker.js";
import { ForbiddenError, RemoteChannelLayer, type BrokerServer } from "../../src/index.js";
import { Op, Status } from "../../src/protocol/ops.js";
import { MAX_HISTORY_READ } from "../../src/protocol/history.js";
import { sleep } from "../conformance/helpers.js";
import { helloClient, startBroker } from "./helpers.js";
import { nodeArgs } from "../children.js";

const run = promisify(execFile);
const children: ChildProcess[] = [];
const servers: BrokerServer[] = [];
const layers: RemoteChannelLayer[] = [];
afterEach(async () => {
  await Promise.all(layers.splice(0).map((l) => l.close()));
  await Promise.all(children.splice(0).map((c) => stopBroker(c)));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function layer(url: string, token?: string, maxMessageBytes?: number): RemoteChannelLayer {
  const l = new RemoteChannelLayer(url, { token, connectTimeout: 10_000, maxMessageBytes });
  layers.push(l);
  return l;
}

describe("channel-layers serve --group-history", () => {
  it("keeps history by the flag; a restarted broker has lost it and says so with a new epoch", { timeout: 30_000 }, async () => {
    const first = await spawnBroker("tcp://127.0.0.1:0", ["--group-history", "chat.*=3,60"]);
    children.push(first.child);
    const port = new URL(first.url).port;
    const l = layer(first.url);
    for (let n = 1; n <= 4; n++) await l.groupSend("chat.room", { type: "n", n });
    const before = await l.groupHistory("chat.room");
    expect(before.messages.map((m) => m.message.n)).toEqual([2, 3, 4]);
    expect(before.messages[0]!.message.__position__).toEqual(before.messages[0]!.position);
    await expect(l.groupHistory("other")).rejects.toMatchObject({ code: "ERR_NO_GROUP_HISTORY" });

    first.child.kill("SIGKILL");
    await sleep(200);
    const second = await spawnBroker(`tcp://127.0.0.1:${port}`, ["--group-history", "chat.*=3,60"]);
    children.push(second.child);
    const deadline = Date.now() + 10_000;
    let after;
    for (;;) {
      after = await l.groupHistory("chat.room", { since: before.position }).catch((err: Error) => err);
      if (!(after instanceof Error) || Date.now() > deadline) break;
      await sleep(50);
    }
    expect(after).toMatchObject({ recovered: false, messages: [] });
    expect((after as { position: { epoch: string } }).position.epoch).not.toBe(before.position.epoch);
  });

  it("a bad flag is one line in the flag's words", async () => {
    const bad = (await run(process.execPath, [...nodeArgs(CLI), "serve", "--listen", "tcp://127.0.0.1:0", "--group-history", "chat.*=0,60"]).catch(
      (e: { code: number; stderr: string }) => e,
    )) as { code: number; stderr: string };
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toEqual([
      'channel-layers: --group-history must be PATTERN=SIZE,TTL with a positive whole SIZE and positive TTL seconds, e.g. "chat.*=1000,120"; got "chat.*=0,60"',
    ]);
  });
});

describe("reading history on a broker with tokens", () => {
  it("a token reads only the history of groups its group grants cover", async () => {
    const broker = await startBroker({
      groupHistory: { "*": { size: 10, ttl: 60 } },
      tokens: [
        { token: "all" },
        { token: "room", group: ["room.*"] },
      ],
    });
    servers.push(broker.server);
    const admin = layer(broker.url, "all");
    await admin.groupSend("room.a", { type: "n", n: 1 });
    await admin.groupSend("secret.a", { type: "n", n: 2 });
    const room = layer(broker.url, "room");
    expect((await room.groupHistory("room.a")).messages.map((m) => m.message.n)).toEqual([1]);
    await expect(room.groupHistory("secret.a")).rejects.toBeInstanceOf(ForbiddenError);
    await expect(room.groupHistory("secret.a", { since: { epoch: "x", offset: 0 } })).rejects.toBeInstanceOf(ForbiddenError);
  });

  it("a read is bounded: the limit is capped, the reply's bodies too, and bad arguments are protocol errors", { timeout: 30_000 }, async () => {
    const broker = await startBroker({ groupHistory: { "big*": { size: 100, ttl: 60 }, "many*": { size: 20_000, ttl: 60 } }, maxMessageBytes: 2 * 1024 * 1024 });
    servers.push(broker.server);
    const l = layer(broker.url, undefined, 2 * 1024 * 1024);
    const start = await l.groupHistory("big");
    const blob = new Uint8Array(1.5 * 1024 * 1024);
    for (let n = 1; n <= 4; n++) await l.groupSend("big", { type: "n", n, blob });
    // 6 MiB kept, over the 4 MiB a client may be owed: a resume from the start is not whole; a tail read is the newest that fit.
    expect(await l.groupHistory("big", { since: start.position })).toMatchObject({ recovered: false, messages: [] });
    const tail = await l.groupHistory("big");
    expect(tail.messages.map((m) => m.message.n)).toEqual([3, 4]);
    const resumed = await l.groupHistory("big", { since: { epoch: start.position.epoch, offset: 2 } });
    expect(resumed.recovered).toBe(true);
    expect(resumed.messages.map((m) => m.message.n)).toEqual([3, 4]);
    const many = await l.groupHistory("many");
    for (let n = 1; n <= MAX_HISTORY_READ + 5; n++) void l.groupSend("many", { type: "n", n });
    await l.groupSend("many", { type: "n", n: 0 });
    expect((await l.groupHistory("many", { limit: 1_000_000 })).messages.length).toBe(MAX_HISTORY_READ);
    expect(await l.groupHistory("many", { since: many.position, limit: 1_000_000 })).toMatchObject({ recovered: false, messages: [] });

    const raw = await helloClient(broker.url);
    raw.send(
      [Op.GroupHistory, 2, "many", null, 0, 0],
      [Op.GroupHistory, 3, "many", 5, 0, 10],
      [Op.GroupHistory, 4, "many", "e", -1, 10],
      [Op.GroupHistory, 5, "many", null, 0, 10, 7],
      [Op.GroupHistory, 6, "many", null, 0, 10, "not a channel"],
    );
    for (const id of [2, 3, 4, 5, 6]) expect((await raw.answer(id)).slice(0, 3)).toEqual([id, Status.Error, "ERR_PROTOCOL"]);
    raw.socket.destroy();
  });
});
