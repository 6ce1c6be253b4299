/**
 * SPEC §5 on the networked broker: `channel-layers serve` in its own process,
 * SIGKILLed and started again on the same address. The member's layer must
 * find the new broker, join its groups again and say so.
 */
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { spawnBroker, stopBroker } from "../../bench/backends/broker.js";
import { RemoteChannelLayer } from "../../src/index.js";
import { sleep } from "../conformance/helpers.js";
import { tempDir } from "../remote/helpers.js";
import { groupSendsArrive, watch } from "./helpers.js";
import { waitFor } from "../wait.js";

const children: ChildProcess[] = [];
const layers: RemoteChannelLayer[] = [];
const dir = tempDir();
afterEach(async () => {
  await Promise.all(layers.splice(0).map((l) => l.close()));
  await Promise.all(children.splice(0).map((c) => stopBroker(c)));
});
afterAll(() => dir.remove());

async function serve(listen: string) {
  const b = await spawnBroker(listen);
  children.push(b.child);
  return b;
}

describe.each(["tcp", "unix"] as const)("a %s broker SIGKILLed and restarted", (kind) => {
  it("the member is in its group again within 5 s; state went ready → reconnecting → ready; one gap", { timeout: 30_000 }, async () => {
    const first = await serve(kind === "tcp" ? "tcp://127.0.0.1:0" : `unix://${join(dir.path, "restart.sock")}`);
    const url = first.url;
    const member = new RemoteChannelLayer(url);
    const sender = new RemoteChannelLayer(url);
    layers.push(member, sender);
    const seen = watch(member);
    const me = await member.newChannel();
    await member.groupAdd("room", me);
    await member.groupAdd("left", me);
    await member.groupDiscard("left", me);
    await groupSendsArrive(sender, member, "room", me, 2000);
    expect(seen.states).toEqual(["connecting", "ready"]);

    first.child.kill("SIGKILL");
    await waitFor("reconnecting", () => member.state === "reconnecting", { timeout: 5000 });
    await sleep(300);
    const second = await serve(kind === "tcp" ? `tcp://127.0.0.1:${new URL(url).port}` : url);
    expect(second.url).toBe(url);

    const took = await groupSendsArrive(sender, member, "room", me, 5000);
    await waitFor("gap", () => seen.gaps.length > 0, { timeout: 5000 });
    expect(took).toBeLessThan(5000);
    expect(seen.states).toEqual(["connecting", "ready", "reconnecting", "ready"]);
    expect(seen.gaps).toHaveLength(1);
    expect(seen.gaps[0]!.reason).toBe("broker-restarted");
    // Only what it still belongs to came back.
    const stats = await member.stats();
    expect(stats.members).toBe(1);
    await member.close();
    expect(member.state).toBe("closed");
  });
});
