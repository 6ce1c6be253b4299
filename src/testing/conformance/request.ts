/**
 * Request/reply (docs/request.md) as every backend must keep it: a reply, a
 * timeout, an abort, a late reply dropped and counted, an error reply, a
 * worker that dies mid-request, caching and coalescing.
 */
import {
  RequestFailedError,
  RequestTimeoutError,
  runWorker,
  type ChannelLayer,
  type LayerOptions,
  type Message,
} from "../../index.js";
import type { BaseLayer } from "../../base.js";
import type { ConformanceTarget } from "./suite.js";
import { closedAfterEach, fresh, sleep, waitsFor } from "./helpers.js";
import { vitest } from "../vitest.js";
import { casesFor, type Capability } from "./capabilities.js";

/** Request cases that need a capability: a request sent before the worker's receive is under way must wait for it. */
const REQUEST_NEEDS: Partial<Record<Capability, readonly string[]>> = {
  storesForAbsentReceivers: [
    "resolves with the worker's returned reply, sent to a fresh process-local reply_channel",
    "times out with RequestTimeoutError when no worker listens, and counts the reply that comes late",
    "a worker that dies holding the request ends in a timeout, not a hang",
    "ctx.reply answers once; a second reply is refused",
    "turns a handler error into an error reply that rejects with RequestFailedError",
    "answers equal requests from the cache for cacheFor seconds, and coalesces concurrent ones into one worker call",
    "never caches an uncacheable reply (cacheable: false) or an error reply",
  ],
};

type Requesting = ChannelLayer & Pick<BaseLayer, "request" | "requestCounters">;

export function requestConformance(target: ConformanceTarget): void {
  const { beforeAll, beforeEach, describe, expect } = vitest("describeChannelLayer");
  const it = casesFor(target.lacks, REQUEST_NEEDS);
  const make = closedAfterEach((options?: LayerOptions) => target.make(options));
  /** The caller's layer and the worker's: two instances where the backend is shared, as in production. */
  const pair = async (): Promise<[Requesting, ChannelLayer]> => {
    const caller = (await make()) as Requesting;
    return [caller, target.shared ? await make() : caller];
  };

  describe(`request/reply: ${target.name}`, { timeout: 30_000 }, () => {
    // request() is optional in ChannelLayer (the package's request() serves any layer): these cases are for a layer with its own.
    let own = true;
    beforeAll(async () => {
      const layer = (await target.make()) as Partial<Requesting>;
      own = typeof layer.request === "function" && typeof layer.requestCounters === "object";
      await layer.close?.();
    });
    beforeEach((context) => {
      if (!own) context.skip("the layer has no request() and requestCounters of its own");
    });
    it("resolves with the worker's returned reply, sent to a fresh process-local reply_channel", async () => {
      const [caller, workerLayer] = await pair();
      const channel = fresh("rpc");
      const seen: Message[] = [];
      const worker = runWorker(workerLayer, channel, (m) => {
        seen.push(m);
        return { type: "pong", n: (m.n as number) + 1 };
      });
      expect(await caller.request(channel, { type: "ping", n: 1 }, { timeout: 5000 })).toEqual({ type: "pong", n: 2 });
      expect(seen[0]!.reply_channel).toMatch(/^reply\.[^!]+![\w-]+$/);
      expect(caller.requestCounters).toMatchObject({ sent: 1, replied: 1 });
      await worker.stop();
    });

    it("ctx.reply answers once; a second reply is refused", async () => {
      const [caller, workerLayer] = await pair();
      const channel = fresh("rpc");
      let second: unknown;
      const worker = runWorker(workerLayer, channel, async (_m, ctx) => {
        await ctx.reply({ type: "first" });
        second = await ctx.reply({ type: "second" }).catch((e: unknown) => e);
      });
      expect((await caller.request(channel, { type: "q" }, { timeout: 5000 })).type).toBe("first");
      await sleep(20);
      expect(second).toBeInstanceOf(TypeError);
      await worker.stop();
    });

    it("times out with RequestTimeoutError when no worker listens, and counts the reply that comes late", async () => {
      const [caller, workerLayer] = await pair();
      const channel = fresh("rpc");
      const started = Date.now();
      const err = await caller.request(channel, { type: "q" }, { timeout: 150 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RequestTimeoutError);
      expect(err).toMatchObject({ code: "ERR_REQUEST_TIMEOUT", channel, timeoutMs: 150 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      // The request is still in the worker channel: a worker that starts now replies too late.
      const request = await workerLayer.receive(channel);
      await workerLayer.send(request.reply_channel as string, { type: "late" });
      for (let i = 0; i < 100 && caller.requestCounters.late === 0; i++) await sleep(10);
      expect(caller.requestCounters).toMatchObject({ timedOut: 1, late: 1, replied: 0 });
    });

    it("rejects with the signal's reason when aborted, and takes nothing else", async () => {
      const [caller] = await pair();
      const channel = fresh("rpc");
      const controller = new AbortController();
      const pending = caller.request(channel, { type: "q" }, { signal: controller.signal, timeout: 5000 });
      setTimeout(() => controller.abort(new Error("user left")), 20);
      await expect(pending).rejects.toThrow("user left");
      const aborted = AbortSignal.abort(new Error("already gone"));
      await expect(caller.request(channel, { type: "q" }, { signal: aborted })).rejects.toThrow("already gone");
    });

    it("turns a handler error into an error reply that rejects with RequestFailedError", async () => {
      const [caller, workerLayer] = await pair();
      const channel = fresh("rpc");
      const worker = runWorker(workerLayer, channel, () => {
        throw Object.assign(new Error("no such thumbnail"), { code: "ENOENT" });
      }, { onError: () => undefined });
      const err = await caller.request(channel, { type: "q" }, { timeout: 5000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RequestFailedError);
      expect(err).toMatchObject({ code: "ERR_REQUEST_FAILED", remoteCode: "ENOENT", remoteMessage: "no such thumbnail" });
      expect(caller.requestCounters).toMatchObject({ failed: 1 });
      await worker.stop();
    });

    it("a worker that dies holding the request ends in a timeout, not a hang", async () => {
      const [caller, workerLayer] = await pair();
      const channel = fresh("rpc");
      const taken = workerLayer.receive(channel); // the worker takes the request, then dies before replying
      // Awaited from the start: on a slow backend the 200 ms can pass before `taken` settles.
      const timedOut = expect(caller.request(channel, { type: "q" }, { timeout: 200 })).rejects.toBeInstanceOf(RequestTimeoutError);
      await taken;
      if (workerLayer !== caller) await workerLayer.close();
      await timedOut;
    });

    it("answers equal requests from the cache for cacheFor seconds, and coalesces concurrent ones into one worker call", async () => {
      const [caller, workerLayer] = await pair();
      const channel = fresh("rpc");
      let calls = 0;
      const worker = runWorker(workerLayer, channel, async (m) => {
        calls++;
        await sleep(30);
        return { type: "answer", of: m.q as string };
      });
      const replies = await Promise.all(
        Array.from({ length: 100 }, () => caller.request(channel, { type: "q", q: "x", opts: { b: 1, a: 2 } }, { cacheFor: 5, timeout: 5000 })),
      );
      expect(calls).toBe(1);
      expect(replies.every((r) => r.of === "x")).toBe(true);
      replies[0]!.of = "mutated"; // every caller holds its own copy
      // Keys in another order are the same request; the cached copy is untouched by the mutation above.
      expect(await caller.request(channel, { type: "q", opts: { a: 2, b: 1 }, q: "x" }, { cacheFor: 5 })).toEqual({ type: "answer", of: "x" });
      expect(calls).toBe(1);
      // Another message is another request.
      await caller.request(channel, { type: "q", q: "y" }, { cacheFor: 5, timeout: 5000 });
      expect(calls).toBe(2);
      expect(caller.requestCounters).toMatchObject({ coalesced: 99, cacheHits: 1, cacheMisses: 101 });
      // stats() reports the same, where the layer has stats.
      if (caller.stats) expect((await caller.stats()).requests).toMatchObject({ coalesced: 99, cacheHits: 1, cacheMisses: 101 });
      await worker.stop();
    });

    it("never caches an uncacheable reply (cacheable: false) or an error reply", async () => {
      const [caller, workerLayer] = await pair();
      const channel = fresh("rpc");
      let calls = 0;
      const worker = runWorker(workerLayer, channel, (m) => {
        calls++;
        if (m.fail) throw new Error("nope");
        return { type: "answer", cacheable: false };
      }, { onError: () => undefined });
      await caller.request(channel, { type: "q" }, { cacheFor: 5, timeout: 5000 });
      await caller.request(channel, { type: "q" }, { cacheFor: 5, timeout: 5000 });
      await expect(caller.request(channel, { type: "q", fail: true }, { cacheFor: 5, timeout: 5000 })).rejects.toBeInstanceOf(RequestFailedError);
      await expect(caller.request(channel, { type: "q", fail: true }, { cacheFor: 5, timeout: 5000 })).rejects.toBeInstanceOf(RequestFailedError);
      expect(calls).toBe(4);
      await worker.stop();
    });

    it("checks its options: a bad timeout or cacheFor is a RangeError, and nothing is sent", async () => {
      const [caller] = await pair();
      const channel = fresh("rpc");
      await expect(caller.request(channel, { type: "q" }, { timeout: 0 })).rejects.toBeInstanceOf(RangeError);
      await expect(caller.request(channel, { type: "q" }, { cacheFor: -1 })).rejects.toBeInstanceOf(RangeError);
      expect(await waitsFor(target).tryReceive(caller, channel)).toBeUndefined();
    });
  });
}
