/**
 * Group history as tests (docs/recovery.md): positions, the bounds, the
 * all-or-nothing read, new epochs, and a random run of sends, joins, drops
 * and resumes checked against what the sender sent.
 *
 * Cases use groups named `hist-…`, kept as CONFORMANCE_GROUP_HISTORY says: a
 * backend whose history is set where the layer is made gets that option from
 * the suite; one whose history is set on its server (the broker) must start
 * that server with it.
 */
import type { ChannelLayer, GroupHistory, GroupHistoryOptions, GroupHistoryReadOptions, HistoryPosition, LayerOptions, Message } from "../../index.js";
import { POSITION_KEY } from "../../options/history.js";
import { resumeGroup, type GroupResume } from "../../client/resume.js";
import { vitest } from "../vitest.js";
import { fresh, tryReceive, waitsFor, type Timing } from "./helpers.js";

/** The history the cases need, first match wins. */
export const CONFORMANCE_GROUP_HISTORY: GroupHistoryOptions = [
  ["hist-size-*", { size: 5, ttl: 60 }],
  ["hist-ttl-*", { size: 100, ttl: 0.4 }],
  ["hist-*", { size: 1000, ttl: 60 }],
];

export const HISTORY_MODEL_TITLE = "random sends, joins, drops and resumes: every message after a resume point exactly once and in order, or recovered: false";

/** Case titles that need the backend to keep group history. */
export const HISTORY_CASES = [
  "members' copies carry consecutive positions, and a read after a position returns the rest in order",
  "groups without history are untouched and reading their history rejects",
  "history is bounded by size: a read from before what is kept is recovered: false",
  "history is bounded by ttl",
  "a read never replays part: another epoch, a position ahead, more than limit",
  "flush starts a new epoch",
  "a group send with no members is recorded",
  "a send that left a member out (except) is left out of that member's replay too",
  HISTORY_MODEL_TITLE,
] as const;

type Make = (options?: LayerOptions) => Promise<ChannelLayer>;
/** The suite's `it` (capabilities.ts's CaseRegistrar, which imports the titles from here). */
type Register = (title: string, fn: () => Promise<void>, timeout?: number) => void;

function historyOf(layer: ChannelLayer): (group: string, options?: GroupHistoryReadOptions) => Promise<GroupHistory> {
  if (layer.groupHistory === undefined) throw new Error("this layer has no groupHistory(); declare lacks.groupHistory");
  return (group, options) => layer.groupHistory!(group, options);
}

const offsets = (h: GroupHistory): number[] => h.messages.map((m) => m.position.offset);

export function historyCases(target: { shared: boolean; expirySlackMs?: number } & Timing, make: Make, it: Register): void {
  const { expect } = vitest("describeChannelLayer");
  const options: LayerOptions = { groupHistory: CONFORMANCE_GROUP_HISTORY };
  const slack = target.expirySlackMs ?? 0;
  const waits = waitsFor(target);
  const { elapse } = waits;

  it(HISTORY_CASES[0], async () => {
    const layer = await make(options);
    const history = historyOf(layer);
    const group = fresh("hist-order");
    const ch = await layer.newChannel("m");
    await layer.groupAdd(group, ch);
    for (let n = 0; n < 4; n++) await layer.groupSend(group, { type: "n", n });
    const got: Message[] = [];
    for (let n = 0; n < 4; n++) got.push(await layer.receive(ch));
    const positions = got.map((m) => m[POSITION_KEY] as unknown as HistoryPosition);
    expect(got.map((m) => m.n)).toEqual([0, 1, 2, 3]);
    const epoch = positions[0]!.epoch;
    expect(typeof epoch).toBe("string");
    expect(positions).toEqual([1, 2, 3, 4].map((offset) => ({ epoch, offset })));
    const all = await history(group, { since: { epoch, offset: 0 } });
    expect(all.recovered).toBe(true);
    expect(all.position).toEqual({ epoch, offset: 4 });
    expect(all.messages.map((m) => m.message.n)).toEqual([0, 1, 2, 3]);
    expect(all.messages.map((m) => m.message[POSITION_KEY])).toEqual(positions);
    const rest = await history(group, { since: positions[1]! });
    expect(rest.recovered).toBe(true);
    expect(offsets(rest)).toEqual([3, 4]);
    const none = await history(group, { since: positions[3]! });
    expect(none).toEqual({ messages: [], position: { epoch, offset: 4 }, recovered: true });
  });

  it(HISTORY_CASES[1], async () => {
    const layer = await make(options);
    const group = fresh("plain");
    const ch = await layer.newChannel("m");
    await layer.groupAdd(group, ch);
    await layer.groupSend(group, { type: "plain", text: "hi" });
    expect(await layer.receive(ch)).toEqual({ type: "plain", text: "hi" });
    await expect(historyOf(layer)(group)).rejects.toBeInstanceOf(TypeError);
    await expect(historyOf(layer)(fresh("hist-x"), { since: { epoch: 3 } as unknown as HistoryPosition })).rejects.toBeInstanceOf(TypeError);
    await expect(historyOf(layer)(fresh("hist-x"), { limit: 0 })).rejects.toBeInstanceOf(RangeError);
  });

  it(HISTORY_CASES[2], async () => {
    const layer = await make(options);
    const history = historyOf(layer);
    const group = fresh("hist-size");
    for (let n = 1; n <= 8; n++) await layer.groupSend(group, { type: "n", n });
    const { position } = await history(group);
    const epoch = position.epoch;
    expect(position.offset).toBe(8);
    expect(await history(group, { since: { epoch, offset: 0 } })).toEqual({ messages: [], position, recovered: false });
    expect((await history(group, { since: { epoch, offset: 2 } })).recovered).toBe(false);
    const kept = await history(group, { since: { epoch, offset: 3 } });
    expect(kept.recovered).toBe(true);
    expect(kept.messages.map((m) => m.message.n)).toEqual([4, 5, 6, 7, 8]);
    const tail = await history(group);
    expect(tail.recovered).toBe(false);
    expect(offsets(tail)).toEqual([4, 5, 6, 7, 8]);
    expect(offsets(await history(group, { limit: 2 }))).toEqual([7, 8]);
  });

  it(HISTORY_CASES[3], async () => {
    const layer = await make(options);
    const history = historyOf(layer);
    const group = fresh("hist-ttl");
    await layer.groupSend(group, { type: "n", n: 1 });
    await layer.groupSend(group, { type: "n", n: 2 });
    await elapse(600, slack);
    await layer.groupSend(group, { type: "n", n: 3 });
    const { position } = await history(group);
    expect(position.offset).toBe(3);
    const since = (offset: number): HistoryPosition => ({ epoch: position.epoch, offset });
    expect((await history(group, { since: since(0) })).recovered).toBe(false);
    expect((await history(group, { since: since(1) })).recovered).toBe(false);
    const rest = await history(group, { since: since(2) });
    expect(rest.recovered).toBe(true);
    expect(rest.messages.map((m) => m.message.n)).toEqual([3]);
  });

  it(HISTORY_CASES[4], async () => {
    const layer = await make(options);
    const history = historyOf(layer);
    const group = fresh("hist-partial");
    for (let n = 1; n <= 6; n++) await layer.groupSend(group, { type: "n", n });
    const { position } = await history(group);
    const never = { messages: [], position, recovered: false };
    expect(await history(group, { since: { epoch: position.epoch + "x", offset: 2 } })).toEqual(never);
    expect(await history(group, { since: { epoch: position.epoch, offset: 7 } })).toEqual(never);
    expect(await history(group, { since: { epoch: position.epoch, offset: 2 }, limit: 3 })).toEqual(never);
    expect(offsets(await history(group, { since: { epoch: position.epoch, offset: 2 }, limit: 4 }))).toEqual([3, 4, 5, 6]);
  });

  it(HISTORY_CASES[5], async () => {
    const layer = await make(options);
    const history = historyOf(layer);
    const group = fresh("hist-flush");
    await layer.groupSend(group, { type: "n", n: 1 });
    const before = (await history(group)).position;
    await layer.flush();
    await layer.groupSend(group, { type: "n", n: 2 });
    const after = await history(group, { since: before });
    expect(after.recovered).toBe(false);
    expect(after.messages).toEqual([]);
    expect(after.position.epoch).not.toBe(before.epoch);
    expect(after.position.offset).toBe(1);
    expect((await history(group, { since: { epoch: after.position.epoch, offset: 0 } })).messages.map((m) => m.message.n)).toEqual([2]);
  });

  it(HISTORY_CASES[6], async () => {
    const layer = await make(options);
    const history = historyOf(layer);
    const group = fresh("hist-empty");
    const start = await history(group);
    expect(start.position.offset).toBe(0);
    await layer.groupSend(group, { type: "n", n: 1 });
    const read = await history(group, { since: start.position });
    expect(read.recovered).toBe(true);
    expect(read.messages.map((m) => m.message.n)).toEqual([1]);
  });

  it(HISTORY_CASES[7], async () => {
    const layer = await make(options);
    const history = historyOf(layer);
    const group = fresh("hist-except");
    const [a, b] = [await layer.newChannel("a"), await layer.newChannel("b")];
    await layer.groupAdd(group, a);
    await layer.groupAdd(group, b);
    const start = (await history(group)).position;
    await layer.groupSend(group, { type: "n", n: 1 });
    await layer.groupSend(group, { type: "n", n: 2 }, { except: a });
    await layer.groupSend(group, { type: "n", n: 3 }, { except: [a, b] });
    await layer.groupSend(group, { type: "n", n: 4 });
    const live = async (ch: string, count: number): Promise<unknown[]> => {
      const got: unknown[] = [];
      for (let i = 0; i < count; i++) got.push((await layer.receive(ch)).n);
      expect(await waits.tryReceive(layer, ch, 100)).toBeUndefined();
      return got;
    };
    expect(await live(a, 2)).toEqual([1, 4]);
    expect(await live(b, 3)).toEqual([1, 2, 4]);
    // The replay is what the channel's live delivery was; offsets count every send all the same.
    const forA = await history(group, { since: start, channel: a });
    expect(forA.recovered).toBe(true);
    expect(offsets(forA)).toEqual([1, 4]);
    expect(forA.position.offset).toBe(4);
    expect(offsets(await history(group, { since: start, channel: b }))).toEqual([1, 2, 4]);
    expect(offsets(await history(group, { since: start }))).toEqual([1, 2, 3, 4]);
    expect(offsets(await history(group, { channel: a }))).toEqual([1, 4]);
    const resumed = await resumeGroup(layer, group, a, { epoch: start.epoch, offset: 1 });
    expect(resumed.messages.map((m) => m.message.n)).toEqual([4]);
    await expect(history(group, { channel: "not a channel" })).rejects.toBeInstanceOf(TypeError);
  });

  it(HISTORY_MODEL_TITLE, async () => {
    const runs = Number(process.env.MODEL_RUNS ?? 3);
    const seed0 = Number(process.env.MODEL_SEED ?? Date.now() % 1e9);
    for (let run = 0; run < runs; run++) {
      const seed = seed0 + run;
      try {
        await historyModelRun(target.shared ? [await make(options), await make(options)] : [await make(options)], seed);
      } catch (err) {
        throw new Error(`history model failed with MODEL_SEED=${seed}: ${(err as Error).message}`, { cause: err });
      }
    }
  }, 60_000);
}

/** mulberry32: a small seeded generator, so a failing run replays. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Reader {
  layer: ChannelLayer;
  channel: string | undefined;
  /** The last position this reader has seen everything up to. */
  at: HistoryPosition | undefined;
  /** Offsets seen, in order of arrival. */
  seen: number[];
  /** Its last resume, which tells replayed live copies. */
  resume?: GroupResume;
}

/**
 * One run: a sender and three readers on one group. A reader joins (groupAdd,
 * then a read from its last position, while sends go on), takes live copies
 * dropping those the read already gave, and drops (leaves, its channel and
 * whatever was in it abandoned). Whenever a reader is told `recovered: true`
 * it must end up with every offset after its position exactly once, in order.
 */
async function historyModelRun(layers: ChannelLayer[], seed: number): Promise<void> {
  const { expect } = vitest("describeChannelLayer");
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const group = fresh("hist-model");
  const sender = layers[0]!;
  let sent = 0;
  const readers: Reader[] = [0, 1, 2].map((i) => ({ layer: layers[i % layers.length]!, channel: undefined, at: undefined, seen: [] }));

  const send = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await sender.groupSend(group, { type: "n", n: ++sent });
  };
  /** Take live copies until the reader has everything sent so far. */
  const catchUp = async (r: Reader): Promise<void> => {
    while (r.at!.offset < sent) {
      const m = await tryReceive(r.layer, r.channel!, 2000);
      if (m === undefined) throw new Error(`a joined reader waited 2 s at offset ${r.at!.offset} of ${sent}: a live copy is missing`);
      if (!r.resume!.isNew(m)) continue; // replayed by the read already
      const p = m[POSITION_KEY] as unknown as HistoryPosition;
      expect(p.epoch).toBe(r.at!.epoch);
      expect(p.offset).toBe(r.at!.offset + 1);
      r.seen.push(p.offset);
      r.at = p;
    }
  };
  /** resumeGroup: join, then read from the last position (a first join reads the latest one). */
  const join = async (r: Reader): Promise<void> => {
    r.channel = await r.layer.newChannel("reader");
    const resume = await resumeGroup(r.layer, group, r.channel, r.at, r.at === undefined ? { limit: 1 } : {});
    if (r.at !== undefined && !resume.recovered) throw new Error(`recovered: false within ${sent} messages of a 1000-message history`);
    if (r.at !== undefined) {
      expect(resume.messages[0]?.position.offset ?? r.at.offset + 1).toBe(r.at.offset + 1);
      for (const { position } of resume.messages) r.seen.push(position.offset);
    }
    r.resume = resume;
    r.at = resume.position;
  };
  const drop = async (r: Reader): Promise<void> => {
    await r.layer.groupDiscard(group, r.channel!);
    r.channel = undefined;
  };

  for (let step = 0; step < 25; step++) {
    const r = pick(readers);
    const op = rnd();
    if (r.channel === undefined && op < 0.6) await Promise.all([join(r), send(1 + Math.floor(rnd() * 4))]);
    else if (r.channel !== undefined && op < 0.3) await drop(r);
    else await send(1 + Math.floor(rnd() * 5));
    for (const x of readers) if (x.channel !== undefined) await catchUp(x);
  }
  for (const r of readers) {
    if (r.seen.length === 0) continue;
    const first = r.seen[0]!;
    expect(r.seen).toEqual(Array.from({ length: r.seen.length }, (_, i) => first + i));
  }
}
