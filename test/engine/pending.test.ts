import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { InMemoryChannelLayer } from "../../src/index.js";

describe("receives waiting on one AbortSignal", () => {
  it("a signal reused for many receives carries one listener, and aborting it ends every receive still waiting", async () => {
    const layer = new InMemoryChannelLayer();
    const controller = new AbortController();
    const { signal } = controller;
    for (let i = 0; i < 100; i++) {
      const got = layer.receive("pending.a", { signal });
      await layer.send("pending.a", { type: "t", i });
      expect((await got).i).toBe(i);
    }
    const waiting = [layer.receive("pending.a", { signal }), layer.receive("pending.b", { signal })];
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    controller.abort(new Error("gone"));
    for (const w of waiting) await expect(w).rejects.toThrow("gone");
    // Nothing was taken for them: the next message reaches a new receive.
    await layer.send("pending.a", { type: "t", i: -1 });
    expect((await layer.receive("pending.a")).i).toBe(-1);
    await layer.close();
  });

  it("a signal nobody waits on any more loses its listener by the end of the turn", async () => {
    const layer = new InMemoryChannelLayer();
    const signal = AbortSignal.timeout(60_000); // Node holds a timeout signal while it has listeners
    const got = layer.receive("pending.d", { signal });
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    await layer.send("pending.d", { type: "t" });
    await got;
    await new Promise((resolve) => setImmediate(resolve));
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
    // And it can be used again.
    const again = layer.receive("pending.d", { signal });
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    await layer.send("pending.d", { type: "u" });
    await expect(again).resolves.toEqual({ type: "u" });
    await layer.close();
  });

  it("a receive that was served is not ended by a later abort of its signal", async () => {
    const layer = new InMemoryChannelLayer();
    const controller = new AbortController();
    const got = layer.receive("pending.c", { signal: controller.signal });
    await layer.send("pending.c", { type: "t" });
    await expect(got).resolves.toEqual({ type: "t" });
    controller.abort();
    await layer.send("pending.c", { type: "u" });
    await expect(layer.receive("pending.c")).resolves.toEqual({ type: "u" });
    await layer.close();
  });
});
