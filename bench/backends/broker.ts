/**
 * The networked broker, as users run it: `channel-layers serve` in its own
 * process, and a RemoteChannelLayer over TCP or a Unix socket.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RemoteChannelLayer } from "../../src/index.js";
import { presenceRows } from "../presence.js";
import { WORKLOADS, type BenchBackend } from "../types.js";
import { workloads } from "../workloads.js";
import { layerBackend } from "./layer.js";
import { nodeArgs as entryArgs } from "../../test/children.js";

/** The CLI source: run through tsx by the bench, compiled in a test run (test/children.ts). */
export const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/** Start `channel-layers serve` on `listen`; resolves with the process and the URL it printed. */
/** `node` options such as `--max-old-space-size=256` go in `nodeArgs`. */
export function spawnBroker(listen: string, extra: string[] = [], nodeArgs: string[] = []): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(process.execPath, [...nodeArgs, ...entryArgs(CLI), "serve", "--listen", listen, ...extra], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    const onData = (): void => {
      const found = /listening on (\S+)/.exec(out);
      if (found) {
        child.stdout!.off("data", onData);
        resolve({ child, url: found[1]!, log: () => out });
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`broker exited with code ${code} before listening: ${out}`)));
  });
}

export function stopBroker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

/**
 * A broker that has served for a while is JIT-compiled on its hot paths; a
 * fresh process is not, and the runner's single warm-up run is too short for
 * a second process (measured: fanout 60k/s on its first run, 300k/s by the
 * tenth). So both sides get a few rounds of every workload first.
 */
export async function warmUpBroker(url: string): Promise<void> {
  const layer = new RemoteChannelLayer(url, { capacity: Infinity });
  try {
    for (let round = 0; round < 5; round++) {
      for (const workload of WORKLOADS) await workloads[workload](layer, workload === "pingpong" || workload === "request" ? 2000 : 10_000);
    }
  } finally {
    await layer.close();
  }
}

/** A broker in its own process with `extra` serve flags; `url()` is where it listens once started. */
export function brokerBackend(name: "tcp" | "unix" | "tcp-metrics" | "tcp-history", extra: string[] = []): BenchBackend & { url(): string } {
  let child: ChildProcess | undefined;
  let url = "";
  let dir = "";
  const backend = layerBackend(name, () => new RemoteChannelLayer(url, { capacity: Infinity }), {
    available: async () => true,
    // A cross-process round trip costs 60–150 µs here: 50k round trips measure it in seconds.
    maxN: 50_000,
    async start() {
      dir = mkdtempSync(join(tmpdir(), "channel-layers-bench-"));
      const listen = name !== "unix" ? "tcp://127.0.0.1:0" : `unix://${join(dir, "broker.sock")}`;
      ({ child, url } = await spawnBroker(listen, ["--capacity", "inf", ...extra]));
      await warmUpBroker(url);
    },
    // The CLI has no flag for join/leave events: these rows are entries without events.
    extras: name === "tcp" ? (quick) => presenceRows(() => new RemoteChannelLayer(url, { capacity: Infinity }), quick) : undefined,
    async stop() {
      if (child) await stopBroker(child);
      rmSync(dir, { recursive: true, force: true });
    },
  });
  return { ...backend, url: () => url };
}

export const tcp = brokerBackend("tcp");
export const unix = brokerBackend("unix");
/** The tcp broker with `--http` on: every request timed for the latency histogram (the cost of metrics). */
export const tcpMetrics = brokerBackend("tcp-metrics", ["--http", "127.0.0.1:0"]);
