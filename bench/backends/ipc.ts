/**
 * IPC: the engine in this (the bench) process via serveIpc, the layer in a
 * forked child that runs the workload and reports its own timing: the same
 * two-process shape as the unix row, whose broker is the child instead.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { serveIpc, type IpcServer } from "../../src/index.js";
import type { BenchBackend, RunResult, Workload } from "../types.js";

const CHILD = fileURLToPath(new URL("./ipc-child.ts", import.meta.url));

let child: ChildProcess | undefined;
let server: IpcServer | undefined;

function ask(message: object): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { result?: RunResult; error?: string }): void => {
      if (!("result" in m) && !("error" in m)) return;
      cleanup();
      if (m.error !== undefined) reject(new Error(`ipc bench child: ${m.error}`));
      else resolve(m.result!);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`ipc bench child exited with ${code} before reporting`));
    };
    const cleanup = (): void => {
      child!.off("message", onMessage);
      child!.off("exit", onExit);
    };
    child!.on("message", onMessage);
    child!.once("exit", onExit);
    child!.send(message);
  });
}

export const ipc: BenchBackend = {
  name: "ipc",
  // As the socket rows: a cross-process round trip costs 60–150 µs here.
  maxN: 50_000,
  available: async () => true,
  async start() {
    child = fork(CHILD, { execArgv: ["--import", "tsx"], stdio: "inherit" });
    server = serveIpc(child, { capacity: Infinity });
    await ask({ cmd: "warmup" });
  },
  run: (workload: Workload, n: number) => ask({ cmd: "run", workload, n }),
  async stop() {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill();
      await exited;
    }
    await server?.close();
  },
};
