import { afterEach, describe, expect, it, vi } from "vitest";
import { InMemoryChannelLayer, NoHandlerError, type Message } from "../../src/index.js";
import { runWorker } from "../../src/consumer/worker.js";
import { sleep } from "../conformance/helpers.js";

describe("runWorker", () => {
  const layers: InMemoryChannelLayer[] = [];
  const layer = (): InMemoryChannelLayer => {
    const l = new InMemoryChannelLayer({ capacity: Infinity });
    layers.push(l);
    return l;
  };
  afterEach(async () => {
    await Promise.all(layers.splice(0).map((l) => l.close()));
  });

  it("runs N handlers at once on a worker channel", async () => {
    const l = layer();
    let running = 0;
    let peak = 0;
    const worker = runWorker(l, "jobs", async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(10);
      running--;
    }, { concurrency: 4 });
    for (let i = 0; i < 12; i++) await l.send("jobs", { type: "job", i });
    while (worker.processed < 12) await sleep(5);
    expect(peak).toBe(4);
    await worker.stop();
  });

  it("several workers share the channel's messages, each to exactly one", async () => {
    const l = layer();
    const seen: number[][] = [[], [], []];
    const workers = seen.map((list) => runWorker(l, "shared", (m) => void list.push(m.i as number), { concurrency: 2 }));
    for (let i = 0; i < 300; i++) await l.send("shared", { type: "job", i });
    while (workers.reduce((n, w) => n + w.processed, 0) < 300) await sleep(5);
    const all = seen.flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(seen.every((list) => list.length > 0)).toBe(true);
    await Promise.all(workers.map((w) => w.stop()));
  });

  it("dispatches by type and reports a type with no handler, then goes on", async () => {
    const l = layer();
    const errors: Array<[unknown, Message]> = [];
    const done: string[] = [];
    const worker = runWorker(l, "typed", { "resize.image": (m) => void done.push(m.name as string) }, { onError: (e, m) => errors.push([e, m]) });
    await l.send("typed", { type: "unknown.kind" });
    await l.send("typed", { type: "resize.image", name: "cat.png" });
    while (worker.processed + worker.failed < 2) await sleep(5);
    expect(done).toEqual(["cat.png"]);
    expect(errors[0]![0]).toBeInstanceOf(NoHandlerError);
    expect(String(errors[0]![0])).toMatch(/worker channel "typed" has no handler for message type "unknown.kind": handlers: resize.image/);
    await worker.stop();
  });

  it("a handler that throws is reported, not swallowed, and the worker goes on", async () => {
    const l = layer();
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    const worker = runWorker(l, "flaky", (m) => {
      if (m.fail) throw new Error("boom");
    });
    await l.send("flaky", { type: "t", fail: true });
    await l.send("flaky", { type: "t", fail: false });
    while (worker.processed + worker.failed < 2) await sleep(5);
    expect(worker.failed).toBe(1);
    expect(worker.processed).toBe(1);
    expect(spy).toHaveBeenCalledWith(expect.stringContaining('handler for "t" failed'), expect.objectContaining({ message: "boom" }));
    spy.mockRestore();
    await worker.stop();
  });

  it("stop finishes in-flight handlers and leaves untaken messages in the channel", async () => {
    const l = layer();
    let finished = 0;
    const worker = runWorker(l, "slow", async () => {
      await sleep(50);
      finished++;
    }, { concurrency: 2 });
    for (let i = 0; i < 5; i++) await l.send("slow", { type: "job", i });
    await sleep(10);
    await worker.stop();
    expect(finished).toBe(2);
    const left: unknown[] = [];
    for (let m = await l.receive("slow", { signal: AbortSignal.timeout(50) }).catch(() => undefined); m; m = await l.receive("slow", { signal: AbortSignal.timeout(50) }).catch(() => undefined)) left.push(m.i);
    expect(left).toEqual([2, 3, 4]);
  });

  it("ends when its signal aborts or the layer closes", async () => {
    const l = layer();
    const c = new AbortController();
    const a = runWorker(l, "x", () => {}, { signal: c.signal });
    c.abort();
    await a.done;
    const b = runWorker(l, "y", () => {});
    await l.close();
    await b.done;
    expect(() => runWorker(l, "bad name", () => {})).toThrow(TypeError);
    expect(() => runWorker(l, "z", () => {}, { concurrency: 0 })).toThrow(RangeError);
  });
});
