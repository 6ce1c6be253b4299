/**
 * The four workloads, written once over `ChannelLayer` so that every JS
 * backend runs exactly the same code. `bench/python/layer_bench.py` mirrors
 * them for Channels' own layers.
 */
import { request as requestOn, runWorker, type ChannelLayer, type Message } from "../src/index.js";
import type { RunResult, Workload } from "./types.js";

/** Largest number of requests a workload has in flight at once. */
const BATCH = 1000;
export const FANOUT_MEMBERS = 100;
export const FANOUT_SENDS = 50;
export const CONCURRENT_PAIRS = 64;

const payload = (i: number): Message => ({ type: "bench.message", i, text: "hello world" });

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

let run = 0;
const unique = (name: string): string => `bench.${name}.${process.pid}.${run++}`;

/** Every SAMPLE-th round trip is timed: two clock reads per round trip would cost more than the round trip. */
const SAMPLE = 16;

async function pingpong(layer: ChannelLayer, n: number): Promise<RunResult> {
  const ch = unique("pingpong");
  const rtt = new Float64Array(Math.ceil(n / SAMPLE));
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    if (i % SAMPLE === 0) {
      const t = performance.now();
      await layer.send(ch, payload(i));
      await layer.receive(ch);
      rtt[i / SAMPLE] = performance.now() - t;
    } else {
      await layer.send(ch, payload(i));
      await layer.receive(ch);
    }
  }
  const seconds = (performance.now() - start) / 1000;
  rtt.sort();
  return { seconds, ops: n, p50Ms: percentile(rtt, 0.5), p99Ms: percentile(rtt, 0.99) };
}

async function pipeline(layer: ChannelLayer, n: number): Promise<RunResult> {
  const ch = unique("pipeline");
  const start = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) batch.push(layer.send(ch, payload(j)));
    await Promise.all(batch);
  }
  for (let i = 0; i < n; i += BATCH) {
    const batch: Promise<Message>[] = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) batch.push(layer.receive(ch));
    await Promise.all(batch);
  }
  return { seconds: (performance.now() - start) / 1000, ops: n };
}

/** A group of FANOUT_MEMBERS on `layer`; each `round` is FANOUT_SENDS group sends, each drained by every member. */
async function fanoutGroup(layer: ChannelLayer): Promise<{ round(): Promise<void>; close(): Promise<void> }> {
  const group = unique("fanout");
  const members = Array.from({ length: FANOUT_MEMBERS }, (_, i) => `${group}.member${i}`);
  await Promise.all(members.map((m) => layer.groupAdd(group, m)));
  return {
    async round() {
      for (let i = 0; i < FANOUT_SENDS; i++) await layer.groupSend(group, payload(i));
      await Promise.all(
        members.map(async (m) => {
          for (let i = 0; i < FANOUT_SENDS; i++) await layer.receive(m);
        }),
      );
    },
    close: async () => void (await Promise.all(members.map((m) => layer.groupDiscard(group, m)))),
  };
}

/** Rounds of fanout: `n` deliveries in all, rounded up to whole rounds. */
async function fanout(layer: ChannelLayer, n: number): Promise<RunResult> {
  const rounds = Math.max(1, Math.ceil(n / (FANOUT_MEMBERS * FANOUT_SENDS)));
  const g = await fanoutGroup(layer);
  const start = performance.now();
  for (let round = 0; round < rounds; round++) await g.round();
  const seconds = (performance.now() - start) / 1000;
  await g.close();
  return { seconds, ops: rounds * FANOUT_MEMBERS * FANOUT_SENDS };
}

/**
 * Fanout on two layers, one round on each in turn (`a` first in even pairs,
 * `b` first in odd ones): for each pair, b's round time ÷ a's, both in wall
 * time and in this process's CPU time (which other processes' turns on a
 * loaded machine do not inflate, but which leaves out a broker's work). Both
 * sides see the same moment's load, which two runs one after the other do not.
 */
export async function fanoutPairs(a: ChannelLayer, b: ChannelLayer, pairs: number): Promise<{ wall: number[]; cpu: number[] }> {
  const ga = await fanoutGroup(a);
  const gb = await fanoutGroup(b);
  const timed = async (g: typeof ga): Promise<[number, number]> => {
    const t = performance.now();
    const c = process.cpuUsage();
    await g.round();
    const used = process.cpuUsage(c);
    return [performance.now() - t, used.user + used.system];
  };
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let pair = 0; pair < pairs; pair++) {
    let ta: [number, number], tb: [number, number];
    if (pair % 2 === 0) {
      ta = await timed(ga);
      tb = await timed(gb);
    } else {
      tb = await timed(gb);
      ta = await timed(ga);
    }
    wall.push(tb[0] / ta[0]);
    cpu.push(tb[1] / Math.max(1, ta[1]));
  }
  await ga.close();
  await gb.close();
  return { wall, cpu };
}

async function concurrent(layer: ChannelLayer, n: number): Promise<RunResult> {
  const perPair = Math.ceil(n / CONCURRENT_PAIRS);
  const base = unique("concurrent");
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENT_PAIRS }, async (_, p) => {
      const ch = `${base}.${p}`;
      const receiver = (async () => {
        for (let i = 0; i < perPair; i++) await layer.receive(ch);
      })();
      for (let i = 0; i < perPair; i++) await layer.send(ch, payload(i));
      await receiver;
    }),
  );
  return { seconds: (performance.now() - start) / 1000, ops: perPair * CONCURRENT_PAIRS };
}

/** `request()` round trips to a worker on the same layer: send, the worker's receive and reply, the caller's receive. */
async function request(layer: ChannelLayer, n: number): Promise<RunResult> {
  const ch = unique("request");
  const worker = runWorker(layer, ch, (m) => ({ type: "bench.reply", i: m.i! }));
  const rtt = new Float64Array(Math.ceil(n / SAMPLE));
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    if (i % SAMPLE === 0) {
      const t = performance.now();
      await requestOn(layer, ch, payload(i));
      rtt[i / SAMPLE] = performance.now() - t;
    } else await requestOn(layer, ch, payload(i));
  }
  const seconds = (performance.now() - start) / 1000;
  await worker.stop();
  rtt.sort();
  return { seconds, ops: n, p50Ms: percentile(rtt, 0.5), p99Ms: percentile(rtt, 0.99) };
}

export const workloads: Record<Workload, (layer: ChannelLayer, n: number) => Promise<RunResult>> = {
  pingpong,
  pipeline,
  fanout,
  concurrent,
  request,
};

/** Default sizes; `--quick` divides them by ten. Fanout runs whole rounds of members × sends deliveries. */
export const DEFAULT_N: Record<Workload, number> = {
  pingpong: 200_000,
  pipeline: 100_000,
  // 100 rounds: at millions of deliveries a second, 10 rounds timed ~15 ms, less than one scheduler slice on a busy machine.
  fanout: 100 * FANOUT_MEMBERS * FANOUT_SENDS,
  concurrent: 256_000,
  request: 20_000,
};
