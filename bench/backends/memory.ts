/** The in-memory layer, plus the two checks only it makes: pipeline scaling and memory reclamation. */
import { InMemoryChannelLayer } from "../../src/index.js";
import { presenceRows } from "../presence.js";
import type { ExtraResult } from "../types.js";
import { workloads } from "../workloads.js";
import { layerBackend } from "./layer.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function heapMB(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** Per-operation cost of `pipeline` at 10k and at 1M messages in one channel. */
async function pipelineScaling(quick: boolean): Promise<ExtraResult[]> {
  const rows: ExtraResult[] = [];
  for (const n of quick ? [10_000, 100_000] : [10_000, 1_000_000]) {
    const layer = new InMemoryChannelLayer({ capacity: Infinity });
    await workloads.pipeline(layer, Math.min(n, 10_000)); // warm up
    const r = await workloads.pipeline(layer, n);
    await layer.close();
    rows.push({ workload: "pipeline", n, seconds: r.seconds, opsPerSec: r.ops / r.seconds, nsPerOp: (r.seconds * 1e9) / n });
  }
  return rows;
}

/** Fill many channels, let them expire with the real clock, and see the heap come back. */
async function reclamation(quick: boolean): Promise<ExtraResult> {
  const channels = quick ? 20_000 : 100_000;
  const layer = new InMemoryChannelLayer({ expiry: 1, sweepInterval: 100 });
  const before = heapMB();
  const start = performance.now();
  for (let i = 0; i < channels; i++) {
    await layer.send(`reclaim.${i}`, { type: "bench.fill", i, text: "some payload to hold" });
    if (i % 1000 === 0) await layer.groupAdd(`reclaim-group.${i}`, `reclaim.${i}`);
  }
  const full = heapMB();
  while ((await layer.stats()).channels > 0) await sleep(100);
  const seconds = (performance.now() - start) / 1000;
  const after = heapMB();
  await layer.close();
  return {
    workload: "reclaim",
    n: channels,
    seconds,
    opsPerSec: channels / seconds,
    heapBeforeMB: +before.toFixed(1),
    heapFullMB: +full.toFixed(1),
    heapAfterMB: +after.toFixed(1),
    heapAfterOverBefore: +(after / before).toFixed(3),
  };
}

export const memory = layerBackend("memory", () => new InMemoryChannelLayer({ capacity: Infinity }), {
  available: async () => true,
  extras: async (quick) => [
    ...(await pipelineScaling(quick)),
    await reclamation(quick),
    // Joins announced to the group (docs/presence.md): the events are part of what a join costs.
    ...(await presenceRows(() => new InMemoryChannelLayer({ capacity: Infinity, groupPresence: { "bench.presence.*.churn": { events: true } } }), quick)),
  ],
});

/**
 * Every traffic option set, none of them limiting (issue 7: the options may
 * cost at most 10% against the option-free run). The priority makes every
 * bench channel use the ten-level queue.
 */
export const memoryTraffic = layerBackend(
  "memory-traffic",
  () =>
    new InMemoryChannelLayer({
      capacity: Infinity,
      channelPriority: { "bench.*": 5 },
      rateLimits: { "bench.*": { rate: "1000000000/s", burst: 1_000_000_000 } },
      overflow: { "bench.*": "drop-oldest" },
      deadLetters: "bench-dead-letters",
    }),
  { available: async () => true, workloads: ["pingpong", "concurrent"] },
);
