/**
 * `bigroom`: one group of 10,000 members (a `!` channel each, as Channels
 * consumers have) spread over 4 consumer processes, and one sender process
 * doing group sends; on memory (everything in one process), IPC, the TCP
 * broker, one Redis and a Redis Cluster (3 masters + 3 replicas, started
 * here). Each backend gives two rows (measure(), below): deliveries a second
 * at saturation, and the latency of one group send in flight, from its
 * groupSend to its last member's receive.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { InMemoryChannelLayer, RedisChannelLayer, serveIpc, type IpcServer } from "../../src/index.js";
import { OwnCluster } from "../../test/redis/own-cluster.js";
import { armRound, joinGroup, sendRound, wallMs, type BigroomCommand } from "../bigroom-roles.js";
import type { BenchBackend, ExtraResult } from "../types.js";
import { spawnBroker, stopBroker } from "./broker.js";

const CHILD = fileURLToPath(new URL("../bigroom-child.ts", import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379/0";
export const BIGROOM_MEMBERS = 10_000;
const CONSUMERS = 4;
/** `BIGROOM_ROWS=memory,ipc,tcp` runs only those rows (of memory, ipc, tcp, redis, redis-cluster). */
const ROWS = process.env.BIGROOM_ROWS?.split(",");
/** `BIGROOM_CPU_PROF=dir` writes a CPU profile of every child process and the broker there (node --cpu-prof). */
const PROFILE = process.env.BIGROOM_CPU_PROF;
const PROFILE_ARGS = PROFILE === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${PROFILE}`];

interface Reply {
  reply?: string;
  error?: string;
  sent?: number[];
  done?: number;
  at?: number;
}

/** A bench child and the replies it sent that nobody took yet. */
class Child {
  private readonly inbox: Reply[] = [];
  private waiter: (() => void) | undefined;
  constructor(readonly process: ChildProcess) {
    process.on("message", (m: Reply) => {
      if (m.reply === undefined && m.error === undefined) return; // "done" reports go to the tally; the rest are the IPC layer's own
      this.inbox.push(m);
      this.waiter?.();
    });
    process.once("exit", (code) => {
      this.inbox.push({ error: `bigroom child exited with ${code}` });
      this.waiter?.();
    });
  }

  /** The next reply that `pick` accepts. */
  async next(pick: (r: Reply) => boolean): Promise<Reply> {
    for (;;) {
      const error = this.inbox.find((r) => r.error !== undefined);
      if (error) throw new Error(error.error);
      const i = this.inbox.findIndex(pick);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  /** Resolves once the process ended, or after `ms` (it is killed then, by the caller). */
  exited(ms: number): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.process.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  ask(command: Partial<BigroomCommand>): Promise<Reply> {
    this.process.send(command);
    return this.next((r) => r.reply === command.cmd);
  }
}

/** How one transport's consumers and sender are driven: the same steps in one process or in five. */
interface Room {
  /** Arm every consumer for messages 0…k-1. */
  arm(k: number): Promise<void>;
  send(from: number, k: number): Promise<number[]>;
  /** When the last member got message i. */
  done(i: number): Promise<number>;
  /**
   * CPU milliseconds the processes involved (the bench's own, its children, a
   * broker) have used so far, by part: the row's figure is their sum, and the
   * parts are told beside it (which side of the wire the CPU goes to).
   */
  cpu(): CpuParts;
}

/** CPU milliseconds by where they were spent: `broker` (IPC's is the bench's own process), `consumers`, `sender`, `bench` (the tally, for tcp). */
type CpuParts = Record<string, number>;

/** Per delivery, in µs, the CPU between `before` and `after`: the sum, and the parts where there are several. */
function cpuPerDelivery(before: CpuParts, after: CpuParts, deliveries: number): { cpuUsPerDelivery: number; cpuUsParts?: string } {
  const us = Object.keys(after).map((part) => [part, ((after[part]! - before[part]!) * 1000) / deliveries] as const);
  const cpuUsPerDelivery = Number(us.reduce((sum, [, v]) => sum + v, 0).toFixed(1));
  if (us.length === 1) return { cpuUsPerDelivery };
  return { cpuUsPerDelivery, cpuUsParts: us.map(([part, v]) => `${part} ${v.toFixed(1)}`).join(" / ") };
}

/** CPU milliseconds this process has used. */
const ownCpu = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** CPU milliseconds process `pid` has used (Linux' /proc; 0 elsewhere), in clock ticks of 10 ms. */
function cpuOf(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14, 15)
  } catch {
    return 0;
  }
}

/** Nearest-rank percentile `p` (0–1) of `sorted` (ascending): with 100 samples, p99 is the second largest. */
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;

/**
 * Two rows, each saying what load it was measured at:
 *
 * - `bigroom-burst`, saturation: `k` group sends back to back (the sender
 *   awaits each groupSend, not its deliveries); ops/s is deliveries a second
 *   from the first groupSend to the last member's last receive, and p50/p99
 *   are each send's time from its groupSend to its last member's receive,
 *   queueing behind the sends before it included.
 * - `bigroom-paced`, one group send in flight: `paced` sends, each once the
 *   one before reached every member; p50/p99 are from its groupSend to its
 *   last member's receive (not the median member's: the slowest one).
 */
async function measure(transport: string, room: Room, k: number, paced: number): Promise<ExtraResult[]> {
  let burst: ExtraResult | undefined;
  // A short round first: every process compiles its hot paths before the timed one.
  for (const rounds of [Math.min(5, k), k]) {
    await room.arm(rounds);
    const cpuBefore = room.cpu();
    const sent = await room.send(0, rounds);
    const lasts = await Promise.all(sent.map((_, i) => room.done(i)));
    const seconds = (Math.max(...lasts) - sent[0]!) / 1000;
    const cpu = cpuPerDelivery(cpuBefore, room.cpu(), BIGROOM_MEMBERS * rounds);
    const queued = lasts.map((at, i) => at - sent[i]!).sort((a, b) => a - b);
    burst = {
      backend: transport,
      workload: "bigroom-burst",
      n: BIGROOM_MEMBERS * rounds,
      seconds,
      opsPerSec: (BIGROOM_MEMBERS * rounds) / seconds,
      p50Ms: percentile(queued, 0.5),
      p99Ms: percentile(queued, 0.99),
      ...cpu,
      load: `${rounds} sends back to back`,
    };
  }
  await room.arm(paced);
  const latencies: number[] = [];
  const began = wallMs();
  const cpuBefore = room.cpu();
  for (let i = 0; i < paced; i++) {
    const [sent] = await room.send(i, 1);
    latencies.push((await room.done(i)) - sent!);
  }
  const seconds = (wallMs() - began) / 1000;
  const cpu = cpuPerDelivery(cpuBefore, room.cpu(), BIGROOM_MEMBERS * paced);
  latencies.sort((a, b) => a - b);
  const one: ExtraResult = {
    backend: transport,
    workload: "bigroom-paced",
    n: BIGROOM_MEMBERS * paced,
    seconds,
    opsPerSec: (BIGROOM_MEMBERS * paced) / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: Number(latencies.at(-1)!.toFixed(1)),
    ...cpu,
    load: `1 send in flight, ${paced} sends`,
  };
  return [burst!, one];
}

/** Resolves per message once `consumers` reports of it came in, with the latest time. */
class Tally {
  private readonly seen = new Map<number, { n: number; at: number; resolve?: (at: number) => void }>();
  constructor(private readonly consumers: number) {}
  report(i: number, at: number): void {
    const entry = this.seen.get(i) ?? { n: 0, at: 0 };
    entry.n++;
    entry.at = Math.max(entry.at, at);
    this.seen.set(i, entry);
    if (entry.n === this.consumers) entry.resolve?.(entry.at);
  }
  done(i: number): Promise<number> {
    const entry = this.seen.get(i) ?? { n: 0, at: 0 };
    this.seen.set(i, entry);
    if (entry.n === this.consumers) return Promise.resolve(entry.at);
    return new Promise((resolve) => (entry.resolve = resolve));
  }
  reset(): void {
    this.seen.clear();
  }
}

/** Memory: the four consumers and the sender share one process and one layer. */
async function inMemory(k: number, paced: number): Promise<ExtraResult[]> {
  const layer = new InMemoryChannelLayer({ capacity: Infinity });
  try {
    const group = "bigroom";
    const shares: string[][] = [];
    for (let c = 0; c < CONSUMERS; c++) shares.push(await joinGroup(layer, group, BIGROOM_MEMBERS / CONSUMERS));
    const tally = new Tally(CONSUMERS);
    return await measure("memory", {
      arm: async (n) => {
        tally.reset();
        for (const members of shares) void armRound(layer, members, n, (i, at) => tally.report(i, at));
      },
      send: (from, n) => sendRound(layer, group, from, n),
      done: (i) => tally.done(i),
      cpu: () => ({ all: ownCpu() }),
    }, k, paced);
  } finally {
    await layer.close();
  }
}

/** Four consumer processes and a sender process on `url` (undefined: IPC, served by this process). */
async function acrossProcesses(transport: string, url: string | undefined, k: number, paced: number, serverPid?: number): Promise<ExtraResult[]> {
  const spec = JSON.stringify(url === undefined ? {} : { url });
  const children: Child[] = [];
  let server: IpcServer | undefined;
  try {
    for (let c = 0; c <= CONSUMERS; c++) {
      const child = fork(CHILD, [spec], { execArgv: [...PROFILE_ARGS, "--import", "tsx"], stdio: "inherit" });
      if (url === undefined) {
        if (server) server.add(child);
        else server = serveIpc(child, { capacity: Infinity });
      }
      children.push(new Child(child));
    }
    await Promise.all(children.map((c) => c.next((r) => r.reply === "started")));
    const sender = children[CONSUMERS]!;
    const consumers = children.slice(0, CONSUMERS);
    const group = `bigroom${randomBytes(4).toString("hex")}`;
    await Promise.all(consumers.map((c) => c.ask({ cmd: "join", group, members: BIGROOM_MEMBERS / CONSUMERS })));
    const tally = new Tally(CONSUMERS);
    for (const c of consumers) c.process.on("message", (m: Reply) => m.done !== undefined && tally.report(m.done, m.at!));
    const out = await measure(transport, {
      arm: async (n) => {
        tally.reset();
        await Promise.all(consumers.map((c) => c.ask({ cmd: "arm", k: n })));
      },
      send: async (from, n) => (await sender.ask({ cmd: "send", group, from, k: n })).sent!,
      done: (i) => tally.done(i),
      cpu: () => {
        const parts: CpuParts = { consumers: consumers.reduce((sum, c) => sum + cpuOf(c.process.pid), 0), sender: cpuOf(sender.process.pid) };
        // The bench's own process holds the IPC broker, and tallies for every transport (Redis' own CPU is not counted).
        if (url === undefined) parts.broker = ownCpu();
        else {
          if (serverPid !== undefined) parts.broker = cpuOf(serverPid);
          parts.bench = ownCpu();
        }
        return parts;
      },
    }, k, paced);
    await Promise.all(children.map((c) => c.ask({ cmd: "close" })));
    // Each ends by itself once closed; a profile (BIGROOM_CPU_PROF) is written only then.
    await Promise.all(children.map((c) => c.exited(5_000)));
    return out;
  } finally {
    for (const c of children) if (c.process.exitCode === null) c.process.kill();
    await server?.close();
  }
}

export const bigroom: BenchBackend = {
  name: "bigroom",
  workloads: [],
  available: async () => true,
  async run() {
    throw new Error("bigroom has only its own rows");
  },
  async extras(quick) {
    const k = quick ? 10 : 50;
    const paced = quick ? 10 : 100;
    const prefix = (): string => `asgibenchroom${randomBytes(4).toString("hex")}`;
    const wanted = (row: string): boolean => ROWS === undefined || ROWS.includes(row);
    const rows: ExtraResult[] = [];
    if (wanted("memory")) rows.push(...await inMemory(k, paced));
    if (wanted("ipc")) rows.push(...await acrossProcesses("ipc", undefined, k, paced));
    if (wanted("tcp")) {
      const broker = await spawnBroker("tcp://127.0.0.1:0", ["--capacity", "inf"], PROFILE_ARGS);
      try {
        rows.push(...await acrossProcesses("tcp", broker.url, k, paced, broker.child.pid));
      } finally {
        await stopBroker(broker.child);
      }
    }
    if (wanted("redis")) {
      const redisPrefix = prefix();
      try {
        rows.push(...await acrossProcesses("redis", `${REDIS_URL}?prefix=${redisPrefix}`, k, paced));
      } finally {
        // The group's key would stay a day (groupExpiry) on the shared server.
        const layer = new RedisChannelLayer({ hosts: [REDIS_URL], prefix: redisPrefix });
        await layer.flush();
        await layer.close();
      }
    }
    if (wanted("redis-cluster")) {
      const cluster = await OwnCluster.start();
      try {
        rows.push(...await acrossProcesses("redis-cluster", `${cluster.url}/?prefix=${prefix()}`, k, paced));
      } finally {
        await cluster.stop();
      }
    }
    return rows;
  },
};
