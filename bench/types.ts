/** The shapes the benchmark runner and its backends share. */
import type { ChannelLayer } from "../src/index.js";

export const WORKLOADS = ["pingpong", "pipeline", "fanout", "concurrent", "request"] as const;
/** The workloads bench/python/layer_bench.py mirrors for Channels' own layers. */
export const CHANNELS_WORKLOADS = ["pingpong", "pipeline", "fanout", "concurrent"] as const;
export type Workload = (typeof WORKLOADS)[number];

export interface RunResult {
  /** Wall-clock seconds of the timed part. */
  seconds: number;
  /** Operations the timed part did (messages, or deliveries for fanout). */
  ops: number;
  /** Round-trip latency percentiles in ms, where the workload measures them (pingpong). */
  p50Ms?: number;
  p99Ms?: number;
}

export interface BenchBackend {
  name: string;
  /** `true`, or why this backend cannot run here (then its rows are skipped, and the reason printed). */
  available(): Promise<true | string>;
  /** The workloads this backend runs; all four when absent (a backend with only extras lists none). */
  workloads?: readonly Workload[];
  /**
   * The largest n this backend runs (a slow rival or a socket round trip
   * would otherwise take minutes); rows compare per-operation rates, so n may differ.
   */
  maxN?: number;
  /** Run only when named in --backends (a long run of its own). */
  optIn?: boolean;
  /** Whether to run each workload once before timing it (for a JIT). Default true. */
  warmUp?: boolean;
  /** Set up once before the backend's workloads (start a broker, say). */
  start?(): Promise<void>;
  run(workload: Workload, n: number): Promise<RunResult>;
  /** A layer on this backend (once started), for measurements of its own (the history cost); the caller closes it. */
  makeLayer?(): ChannelLayer | Promise<ChannelLayer>;
  /** Release everything `start` made. */
  stop?(): Promise<void>;
  /** Extra rows this backend measures beyond the four workloads (memory reclamation, say). */
  extras?(quick: boolean): Promise<ExtraResult[]>;
}

export interface ExtraResult {
  workload: string;
  n: number;
  seconds: number;
  opsPerSec: number;
  [key: string]: number | string;
}

export interface ResultRow {
  backend: string;
  workload: string;
  n: number;
  seconds: number;
  opsPerSec: number;
  p50Ms?: number;
  p99Ms?: number;
  [key: string]: number | string | undefined;
}
