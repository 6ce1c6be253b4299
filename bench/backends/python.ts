/**
 * Django Channels' own layers as bench rivals: `bench/python/layer_bench.py`
 * run under Debian's /usr/bin/python3 (the interpreter that sees Debian's
 * python3-django-channels and python3-channels-redis).
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CHANNELS_WORKLOADS, type BenchBackend, type RunResult, type Workload } from "../types.js";

const run = promisify(execFile);
const PYTHON = process.env.CHANNELS_PYTHON ?? "/usr/bin/python3";
/** Longest one Python run may take; the slowest (channels_redis, 20k operations) takes well under a minute. */
const PYTHON_RUN_TIMEOUT_MS = 300_000;
const SCRIPT = fileURLToPath(new URL("../python/layer_bench.py", import.meta.url));

export function pythonBackend(name: string, layer: "memory" | "redis" | "pubsub" | "broker", extraArgs: () => string[] = () => [], maxN?: number): BenchBackend {
  return {
    name,
    // CPython has no JIT to warm; its per-operation cost does not change with n.
    warmUp: false,
    maxN,
    workloads: CHANNELS_WORKLOADS,
    async available() {
      // The broker layer is this repository's python/ package, which layer_bench.py imports from the tree.
      const module = layer === "memory" ? "channels.layers" : layer === "pubsub" ? "channels_redis.pubsub" : layer === "broker" ? "channels.layers, msgpack" : "channels_redis.core";
      try {
        await run(PYTHON, ["-c", `import ${module}`]);
        return true;
      } catch {
        return `${PYTHON} cannot import ${module} (apt-get install python3-django-channels python3-channels-redis python3-msgpack)`;
      }
    },
    async run(workload: Workload, n: number): Promise<RunResult> {
      // A Python run that hangs (seen once: receives waiting forever on the pub/sub layer) must not hang the whole bench.
      const { stdout } = await run(PYTHON, [SCRIPT, "--layer", layer, "--workload", workload, "--n", String(n), ...extraArgs()], {
        maxBuffer: 1 << 20,
        timeout: PYTHON_RUN_TIMEOUT_MS,
      }).catch((err: Error & { killed?: boolean }) => {
        if (err.killed) throw new Error(`${name} ${workload} did not finish within ${PYTHON_RUN_TIMEOUT_MS / 1000} s and was stopped`);
        throw err;
      });
      return JSON.parse(stdout.trim().split("\n").pop()!) as RunResult;
    },
  };
}

// Capped like the other slow rows (fanout at 100 rounds would take minutes); rows compare per-operation rates.
export const pythonMemory = pythonBackend("python-memory", "memory", undefined, 50_000);
