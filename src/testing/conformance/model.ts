/**
 * The random-operation model test (docs/semantics.md §4.1, §4.3, §4.4, §4.6, §4.10): random
 * sends, receives, group adds, discards and sends over a few channels (one of
 * them process-local) and groups of a small capacity, on one layer and, where
 * the backend is shared, a second layer on the same backend. After every
 * awaited call the backend must agree with a plain reference model: FIFO
 * queues, a capacity per channel, group memberships. It sees each backend
 * from outside, with its default options, so read-ahead (prefetch, standing
 * receives, lingers) must be invisible to it.
 *
 * MODEL_RUNS sets the number of runs (default a few, so CI stays fast; the
 * local check is MODEL_RUNS=2000). MODEL_SEED replays a reported seed.
 */
import { ChannelFullError, type ChannelLayer, type LayerOptions, type Message } from "../../index.js";
import { fastCheck } from "../fast-check.js";
import { vitest } from "../vitest.js";
import { tryReceive, type Settle } from "./helpers.js";

const expect: ReturnType<typeof vitest>["expect"] = ((...args: Parameters<ReturnType<typeof vitest>["expect"]>) =>
  vitest("describeChannelLayer").expect(...args)) as ReturnType<typeof vitest>["expect"];

const CAPACITY = 3;
const CHANNELS = 4; // the last one is layer 0's process-local channel
const GROUPS = 2;
/** How long a receive waits when the model says the channel is empty (unless the target can settle). */
const EMPTY_WAIT_MS = 10;
/** How long a receive may take when the model says a message is there (only a failing backend waits this long). */
const FULL_WAIT_MS = 2000;

export interface ModelTarget {
  name: string;
  make(options?: LayerOptions): ChannelLayer | Promise<ChannelLayer>;
  shared: boolean;
  settle?: Settle;
}

interface Real {
  layers: ChannelLayer[];
  settle: Settle | undefined;
  channels: string[];
  groups: string[];
  next: number;
}

interface Model {
  queues: number[][];
  groups: Set<number>[];
}

type Cmd = import("fast-check").AsyncCommand<Model, Real>;

const label = (real: Real | undefined, ch: number): string => (real ? real.channels[ch]! : `ch${ch}`);

class Send implements Cmd {
  constructor(readonly layer: number, readonly ch: number) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const n = r.next++;
    const full = m.queues[this.ch]!.length >= CAPACITY;
    let refused = false;
    try {
      await r.layers[this.layer]!.send(r.channels[this.ch]!, { type: "model", n });
    } catch (err) {
      if (!(err instanceof ChannelFullError)) throw err;
      refused = true;
    }
    expect(refused, `send n:${n} to ${label(r, this.ch)} holding ${m.queues[this.ch]!.length} of ${CAPACITY}`).toBe(full);
    if (!full) m.queues[this.ch]!.push(n);
  }
  toString = (): string => `L${this.layer}.send(ch${this.ch})`;
}

class Receive implements Cmd {
  constructor(readonly layer: number, readonly ch: number) {}
  // Only layer 0 may receive from its process-local channel.
  check = (): boolean => this.ch !== CHANNELS - 1 || this.layer === 0;
  async run(m: Model, r: Real): Promise<void> {
    const queue = m.queues[this.ch]!;
    const expected = queue[0];
    const layer = r.layers[this.layer]!;
    const channel = r.channels[this.ch]!;
    const got: Message | undefined = expected === undefined ? await tryReceive(layer, channel, EMPTY_WAIT_MS, r.settle) : await tryReceive(layer, channel, FULL_WAIT_MS);
    expect(got?.n, `receive on ${label(r, this.ch)} holding [${queue.join(", ")}]`).toBe(expected);
    if (expected !== undefined) queue.shift();
  }
  toString = (): string => `L${this.layer}.receive(ch${this.ch})`;
}

class GroupAdd implements Cmd {
  constructor(readonly layer: number, readonly group: number, readonly ch: number) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    await r.layers[this.layer]!.groupAdd(r.groups[this.group]!, r.channels[this.ch]!);
    m.groups[this.group]!.add(this.ch);
  }
  toString = (): string => `L${this.layer}.groupAdd(g${this.group}, ch${this.ch})`;
}

class GroupDiscard implements Cmd {
  constructor(readonly layer: number, readonly group: number, readonly ch: number) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    await r.layers[this.layer]!.groupDiscard(r.groups[this.group]!, r.channels[this.ch]!);
    m.groups[this.group]!.delete(this.ch);
  }
  toString = (): string => `L${this.layer}.groupDiscard(g${this.group}, ch${this.ch})`;
}

class GroupSend implements Cmd {
  constructor(readonly layer: number, readonly group: number) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const n = r.next++;
    await r.layers[this.layer]!.groupSend(r.groups[this.group]!, { type: "model", n });
    // Full members are skipped (docs/semantics.md §4.4).
    for (const ch of m.groups[this.group]!) if (m.queues[ch]!.length < CAPACITY) m.queues[ch]!.push(n);
  }
  toString = (): string => `L${this.layer}.groupSend(g${this.group})`;
}

/** Number of runs: MODEL_RUNS, else a few. */
export function modelRuns(fallback: number): number {
  const runs = Number(process.env.MODEL_RUNS);
  return Number.isInteger(runs) && runs > 0 ? runs : fallback;
}

export const modelTitle = (): string => `random operations agree with a reference model (${modelRuns(8)} runs; MODEL_RUNS sets more)`;

/** `test`: the suite's case registrar (it skips the case for a backend lacking a capability it needs). */
export function modelTest(target: ModelTarget, fresh: (base: string) => string, test: (title: string, fn: () => Promise<void>, timeout?: number) => void): void {
  const runs = modelRuns(8);
  const layers = target.shared ? 2 : 1;
  const fc = fastCheck();
  if (fc === undefined) {
    vitest("describeChannelLayer").it.skip(`${modelTitle()} [skipped: install fast-check (npm install --save-dev fast-check) to run it]`, () => undefined);
    return;
  }
  test(modelTitle(), async () => {
    const layer = fc.integer({ min: 0, max: layers - 1 });
    const ch = fc.integer({ min: 0, max: CHANNELS - 1 });
    const group = fc.integer({ min: 0, max: GROUPS - 1 });
    const commands = fc.commands(
      [
        fc.tuple(layer, ch).map(([l, c]) => new Send(l, c)),
        fc.tuple(layer, ch).map(([l, c]) => new Send(l, c)),
        fc.tuple(layer, ch).map(([l, c]) => new Receive(l === 0 || c !== CHANNELS - 1 ? l : 0, c)),
        fc.tuple(layer, ch).map(([l, c]) => new Receive(l === 0 || c !== CHANNELS - 1 ? l : 0, c)),
        fc.tuple(layer, group, ch).map(([l, g, c]) => new GroupAdd(l, g, c)),
        fc.tuple(layer, group, ch).map(([l, g, c]) => new GroupDiscard(l, g, c)),
        fc.tuple(layer, group).map(([l, g]) => new GroupSend(l, g)),
      ],
      { maxCommands: 100, size: "max" },
    );
    const seed = Number(process.env.MODEL_SEED);
    await fc.assert(
      fc.asyncProperty(commands, async (cmds) => {
        const made: ChannelLayer[] = [];
        try {
          for (let i = 0; i < layers; i++) made.push(await target.make({ capacity: CAPACITY }));
          const channels = Array.from({ length: CHANNELS - 1 }, (_, i) => fresh(`model${i}`));
          channels.push(await made[0]!.newChannel("model"));
          const real: Real = { layers: made, settle: target.settle, channels, groups: Array.from({ length: GROUPS }, (_, i) => fresh(`mg${i}`)), next: 0 };
          const model: Model = { queues: channels.map(() => []), groups: Array.from({ length: GROUPS }, () => new Set()) };
          await fc.asyncModelRun(() => ({ model, real }), cmds);
        } finally {
          await Promise.all(made.map((l) => l.close()));
        }
      }),
      { numRuns: runs, ...(Number.isInteger(seed) ? { seed } : {}) },
    );
  }, Math.max(60_000, runs * 3_000));
}
