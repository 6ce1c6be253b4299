/** layer.stats() on each engine backend, and the stats op's top lists on the wire. */
import { afterEach, describe, expect, it } from "vitest";
import { InMemoryChannelLayer, RemoteChannelLayer, type ChannelLayer, type LayerStats } from "../../src/index.js";
import { Op, Status } from "../../src/protocol/ops.js";
import { helloClient, startBroker } from "../remote/helpers.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

/** The same traffic on any layer: 3 sends, 1 receive, a group of 2, one refused send. */
async function traffic(layer: ChannelLayer): Promise<void> {
  for (let i = 0; i < 3; i++) await layer.send("work", { type: "job", i });
  await layer.receive("work");
  await layer.groupAdd("room", "a");
  await layer.groupAdd("room", "b");
  await layer.send("full", { type: "x" });
  await layer.send("full", { type: "y" }).catch(() => {});
}

const expected = {
  channels: 4,
  messages: 3,
  waitingReceivers: 0,
  groups: 1,
  members: 2,
};

describe("layer.stats()", () => {
  it("memory: everything this layer holds and counted, scope layer", async () => {
    const layer = new InMemoryChannelLayer({ channelCapacity: { full: 1 } });
    open.push(layer);
    await traffic(layer);
    const s = await layer.stats();
    expect(s).toMatchObject({ backend: "memory", scope: "layer", ...expected });
    expect(s.counters).toMatchObject({ sent: 4, received: 1, rejectedFull: 1, expired: 0 });
    expect(s.clients).toBeUndefined();
  });

  it("broker: the broker's engine, its clients, and this layer's own link, scope broker", async () => {
    const { server, url } = await startBroker({ channelCapacity: { full: 1 } });
    open.push(server);
    const layer = new RemoteChannelLayer(url);
    const other = new RemoteChannelLayer(url);
    open.push(layer, other);
    await traffic(layer);
    await other.send("elsewhere", { type: "z" });
    const s = await layer.stats();
    // The other client's send counts too: the figures are the broker's.
    expect(s).toMatchObject({ backend: "broker", scope: "broker", ...expected, channels: 5, messages: 4, clients: 2 });
    expect(s.counters).toMatchObject({ sent: 5, received: 1, rejectedFull: 1 });
    expect(s.client).toEqual({ connected: true, reconnects: 0, pendingRequests: 0 });
  });

  it("is reachable through the ChannelLayer interface", async () => {
    const layer: ChannelLayer = new InMemoryChannelLayer();
    open.push(layer);
    const s: LayerStats | undefined = await layer.stats?.();
    expect(s?.scope).toBe("layer");
  });

  it("rejects with LayerClosedError once the layer is closed", async () => {
    const { server, url } = await startBroker();
    open.push(server);
    const remote = new RemoteChannelLayer(url);
    await remote.close();
    await expect(remote.stats()).rejects.toMatchObject({ code: "ERR_LAYER_CLOSED" });
    await expect(remote.details()).rejects.toMatchObject({ code: "ERR_LAYER_CLOSED" });
    const memory = new InMemoryChannelLayer();
    await memory.close();
    await expect(memory.stats()).rejects.toMatchObject({ code: "ERR_LAYER_CLOSED" });
  });
});

describe("the stats op with top", () => {
  it("adds the busiest channels, the largest groups and the clients with most waiting receives", async () => {
    const { server, url } = await startBroker();
    open.push(server);
    const layer = new RemoteChannelLayer(url);
    open.push(layer);
    for (let i = 0; i < 4; i++) await layer.send("big", { type: "m" });
    await layer.send("small", { type: "m" });
    await layer.groupAdd("g1", "big");
    await layer.groupAdd("g2", "big");
    await layer.groupAdd("g2", "small");
    const waiting = layer.receive("empty");
    await new Promise((r) => setTimeout(r, 50));
    const d = await layer.details(1);
    expect(d.channelTop).toEqual([{ name: "big", messages: 4, waiting: 0 }]);
    expect(d.groupTop).toEqual([{ name: "g2", members: 2 }]);
    expect(d.clientList).toEqual([
      { id: expect.any(Number), peer: expect.stringMatching(/^tcp /), instance: expect.any(String), since: expect.any(Number), pendingReceives: 1 },
    ]);
    await layer.send("empty", { type: "m" });
    await waiting;
  });

  it("answers a bad top with an error and keeps the connection", async () => {
    const { server, url } = await startBroker();
    open.push(server);
    const raw = await helloClient(url);
    raw.send([Op.Stats, 2, 0], [Op.Stats, 3, 101], [Op.Stats, 4, "10"], [Op.Stats, 5, 1.5], [Op.Stats, 6, 3]);
    for (const id of [2, 3, 4, 5]) {
      expect(await raw.answer(id)).toEqual([id, Status.Error, "ERR_PROTOCOL", "stats: top must be an integer from 1 to 100"]);
    }
    const [, status, answer] = await raw.answer(6);
    expect(status).toBe(Status.Ok);
    expect(answer).toMatchObject({ clients: 1, channelTop: [], groupTop: [], clientList: [expect.objectContaining({ pendingReceives: 0 })] });
    raw.socket.destroy();
  });
});
