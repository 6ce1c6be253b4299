/**
 * The one abortable-promise type (src/client/pending-receive.ts), as each backend
 * that waits with it shows it: memory, the broker client, Redis and Redis
 * pub/sub.
 */
import { getEventListeners } from "node:events";
import { afterAll, describe, expect, it } from "vitest";
import { InMemoryChannelLayer, RedisPubSubChannelLayer, RemoteChannelLayer, type ChannelLayer } from "../../src/index.js";
import { startBroker } from "../remote/helpers.js";
import { cleanPrefix, makeLayer, REDIS_URL, testPrefix } from "../redis/helpers.js";
import { needs } from "../services.js";

await needs("redis");

const prefix = testPrefix();
const broker = startBroker();
afterAll(async () => {
  await (await broker).server.close();
  await cleanPrefix(prefix);
});

const backends: Array<[string, () => Promise<ChannelLayer>]> = [
  ["memory", () => Promise.resolve(new InMemoryChannelLayer())],
  ["broker", async () => new RemoteChannelLayer((await broker).url)],
  ["redis", () => Promise.resolve(makeLayer(prefix))],
  ["redis pub/sub", () => Promise.resolve(new RedisPubSubChannelLayer({ hosts: [REDIS_URL], prefix }))],
];

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe.each(backends)("receives waiting on one AbortSignal (%s)", (_, make) => {
  it("a signal reused for many receives carries one listener, and aborting it ends every receive still waiting", async () => {
    const layer = await make();
    const controller = new AbortController();
    const { signal } = controller;
    for (let i = 0; i < 20; i++) {
      const got = layer.receive("pending.a", { signal });
      await layer.send("pending.a", { type: "t", i });
      expect((await got).i).toBe(i);
    }
    const waiting = [layer.receive("pending.a", { signal }), layer.receive("pending.b", { signal })];
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    controller.abort(new Error("gone"));
    for (const w of waiting) await expect(w).rejects.toThrow("gone");
    // Nothing was taken for them: the next message reaches a new receive.
    const next = layer.receive("pending.a");
    await layer.send("pending.a", { type: "t", i: -1 });
    expect((await next).i).toBe(-1);
    await layer.close();
  });

  it("a signal nobody waits on any more loses its listener by the end of the turn", async () => {
    const layer = await make();
    const signal = AbortSignal.timeout(60_000); // Node holds a timeout signal while it has listeners
    const got = layer.receive("pending.d", { signal });
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    await layer.send("pending.d", { type: "t" });
    await got;
    await turn();
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
    // And it can be used again.
    const again = layer.receive("pending.d", { signal });
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    await layer.send("pending.d", { type: "u" });
    await expect(again).resolves.toEqual({ type: "u" });
    await layer.close();
  });

  it("a receive that was served is not ended by a later abort of its signal", async () => {
    const layer = await make();
    const controller = new AbortController();
    const got = layer.receive("pending.c", { signal: controller.signal });
    await layer.send("pending.c", { type: "t" });
    await expect(got).resolves.toEqual({ type: "t" });
    controller.abort();
    const next = layer.receive("pending.c");
    await layer.send("pending.c", { type: "u" });
    await expect(next).resolves.toEqual({ type: "u" });
    await layer.close();
  });
});
