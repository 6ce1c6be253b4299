/**
 * Several `channel-layers worker` processes on one worker channel of a tcp
 * broker: every job handled exactly once, shared between the processes, and
 * SIGTERM stops each one cleanly.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BrokerServer, ChannelFullError, RemoteChannelLayer } from "../../src/index.js";
import { nodeArgs } from "../children.js";

const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const MODULE = fileURLToPath(new URL("./fixtures/record-jobs.mjs", import.meta.url));
let broker: BrokerServer;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  broker = new BrokerServer({ listen: "tcp://127.0.0.1:0", capacity: 10_000 });
  await broker.listen();
});

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill("SIGKILL");
  await broker.close();
});

function startWorker(url: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeArgs(CLI), "worker", MODULE, "--url", url, "--concurrency", "4"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  workers.push(child);
  let out = "";
  child.stderr!.on("data", (d: Buffer) => (out += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      if (out.includes("worker on jobs.resize")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`worker exited with ${code}: ${out}`)));
  });
}

it("worker processes share one channel: each job handled exactly once, by several of them", async () => {
  const url = broker.addresses[0]!;
  const procs = await Promise.all([startWorker(url), startWorker(url), startWorker(url)]);
  const layer = new RemoteChannelLayer(url);
  const total = 600;
  for (let i = 0; i < total; i++) {
    for (;;) {
      try {
        await layer.send("jobs.resize", { type: "job.resize", i });
        break;
      } catch (err) {
        if (!(err instanceof ChannelFullError)) throw err;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }
  const seen = new Map<number, number>();
  const byPid = new Map<number, number>();
  while (seen.size < total) {
    const done = await layer.receive("jobs.results", { signal: AbortSignal.timeout(20_000) });
    const i = done.i as number;
    seen.set(i, (seen.get(i) ?? 0) + 1);
    byPid.set(done.pid as number, (byPid.get(done.pid as number) ?? 0) + 1);
  }
  expect([...seen.values()].every((n) => n === 1)).toBe(true);
  expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
  expect(byPid.size).toBeGreaterThanOrEqual(2);
  // Nothing more arrives: no job was handled twice.
  await expect(layer.receive("jobs.results", { signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ name: "TimeoutError" });

  for (const p of procs) p.kill("SIGTERM");
  const codes = await Promise.all(procs.map(async (p) => ((await once(p, "exit")) as [number | null])[0]));
  expect(codes).toEqual([0, 0, 0]);
  await layer.close();
}, 90_000);

it("refuses to start without handlers or a channel, saying what is missing", async () => {
  const run = (args: string[]) => {
    const child = spawn(process.execPath, [...nodeArgs(CLI), "worker", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d));
    return once(child, "exit").then(([code]) => ({ code, err }));
  };
  expect(await run([])).toMatchObject({ code: 2, err: expect.stringContaining("worker needs a MODULE") });
  const noChannel = fileURLToPath(new URL("./fixtures/no-channel.mjs", import.meta.url));
  expect(await run([noChannel])).toMatchObject({ code: 2, err: expect.stringContaining("no worker channel") });
}, 30_000);

function runCli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [...nodeArgs(CLI), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (err += d));
  return once(child, "exit").then(([code]) => ({ code: code as number | null, out, err }));
}

it("worker --help prints the worker's usage and exits 0", async () => {
  const { code, out, err } = await runCli(["worker", "--help"]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  expect(out).toMatch(/--concurrency N/);
}, 30_000);

it("speaks in flags: a missing token says --token-file, a bad --concurrency names the flag", async () => {
  const guarded = new BrokerServer({ listen: "tcp://127.0.0.1:0", token: "s3cret" });
  const [url] = await guarded.listen();
  try {
    const noToken = await runCli(["worker", MODULE, "--url", url!]);
    expect(noToken.code).toBe(2);
    expect(noToken.err.trim()).toBe("channel-layers: the broker requires a token: pass --token-file FILE (ERR_AUTHENTICATION)");
  } finally {
    await guarded.close();
  }
  const bad = await runCli(["worker", MODULE, "--concurrency", "0"]);
  expect(bad).toMatchObject({ code: 2, err: expect.stringContaining('--concurrency must be a positive integer, got "0"') });
}, 30_000);

it("serve names the missing TLS flag", async () => {
  const onlyKey = await runCli(["serve", "--listen", "tls://127.0.0.1:0", "--tls-key", "key.pem"]);
  expect(onlyKey).toMatchObject({ code: 2, err: "channel-layers: --tls-key was given without --tls-cert: TLS needs both\n" });
  const neither = await runCli(["serve", "--listen", "tls://127.0.0.1:0"]);
  expect(neither).toMatchObject({ code: 2, err: expect.stringContaining("needs --tls-cert FILE and --tls-key FILE") });
}, 30_000);
