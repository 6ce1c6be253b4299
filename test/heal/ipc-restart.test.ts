/**
 * SPEC §5 over IPC: the parent's broker (serveIpc) is closed and served
 * again, as a parent restarting its broker side would; the children's
 * layers find the new broker through the same port, join their groups again
 * and say so. The children here are MessagePorts of this process.
 */
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { IpcChannelLayer, serveIpc, type IpcServer } from "../../src/index.js";
import { groupSendsArrive, watch } from "./helpers.js";
import { waitFor } from "../wait.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function child(): { layer: IpcChannelLayer; parentEnd: MessagePort } {
  const { port1, port2 } = new MessageChannel();
  const layer = new IpcChannelLayer({ port: port2, handshakeTimeout: 300 });
  cleanups.push(() => {
    port1.close();
    port2.close();
  });
  cleanups.push(() => layer.close());
  return { layer, parentEnd: port1 };
}

describe("ipc: the parent's broker restarted", () => {
  it("the member is in its group again within 5 s; state went ready → reconnecting → ready; one gap", { timeout: 20_000 }, async () => {
    const member = child();
    const sender = child();
    let server: IpcServer = serveIpc(member.parentEnd);
    server.add(sender.parentEnd);
    cleanups.push(() => server.close());
    const seen = watch(member.layer);
    const me = await member.layer.newChannel();
    await member.layer.groupAdd("room", me);
    await groupSendsArrive(sender.layer, member.layer, "room", me, 2000);

    await server.close();
    await waitFor("reconnecting", () => member.layer.state === "reconnecting", { timeout: 5000 });
    server = serveIpc(member.parentEnd);
    server.add(sender.parentEnd);

    const took = await groupSendsArrive(sender.layer, member.layer, "room", me, 5000);
    await waitFor("gap", () => seen.gaps.length > 0, { timeout: 5000 });
    expect(took).toBeLessThan(5000);
    expect(seen.states).toEqual(["connecting", "ready", "reconnecting", "ready"]);
    expect(seen.gaps.map((g) => g.reason)).toEqual(["broker-restarted"]);
    expect(server.stats().members).toBe(1);
  });
});
