/** `channel-layers serve --group-presence` (docs/presence.md "Join and leave events"): the flag turns events on per pattern; a bad one is one line. */
import { execFile, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, spawnBroker, stopBroker } from "../../bench/backends/broker.js";
import { RemoteChannelLayer, type Message } from "../../src/index.js";
import { nodeArgs } from "../children.js";

const run = promisify(execFile);
const children: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopBroker(c)));
});

async function drain(layer: RemoteChannelLayer, channel: string): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    try {
      out.push(await layer.receive(channel, { signal: AbortSignal.timeout(200) }));
    } catch {
      return out;
    }
  }
}

describe("channel-layers serve --group-presence", () => {
  it("members of matching groups hear joins and leaves; other groups keep presence quietly", { timeout: 30_000 }, async () => {
    const broker = await spawnBroker("tcp://127.0.0.1:0", ["--group-presence", "room.*", "--group-presence", "lobby"]);
    children.push(broker.child);
    const layer = new RemoteChannelLayer(broker.url);
    try {
      for (const group of ["room.a", "lobby", "quiet"]) {
        await layer.groupAdd(group, `${group}-ann`, { presence: { user: "ann" } });
        await layer.groupAdd(group, `${group}-bob`, { presence: { user: "bob" } });
        await layer.groupDiscard(group, `${group}-bob`);
        expect(await layer.presenceCount(group)).toBe(1);
      }
      for (const group of ["room.a", "lobby"]) {
        expect((await drain(layer, `${group}-ann`)).map((m) => [m.type, m.channel])).toEqual([
          ["presence.join", `${group}-ann`],
          ["presence.join", `${group}-bob`],
          ["presence.leave", `${group}-bob`],
        ]);
      }
      expect(await drain(layer, "quiet-ann")).toEqual([]);
    } finally {
      await layer.close();
    }
  });

  it("a bad pattern is one line in the flag's words", async () => {
    const bad = (await run(process.execPath, [...nodeArgs(CLI), "serve", "--listen", "tcp://127.0.0.1:0", "--group-presence", "room.*=true"]).catch(
      (e: { code: number; stderr: string }) => e,
    )) as { code: number; stderr: string };
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toEqual([
      'channel-layers: --group-presence must be a group name pattern, a glob such as "room.*" (repeat the flag for several); got "room.*=true"',
    ]);
  });
});
