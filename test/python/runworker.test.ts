/**
 * Channels' `runworker` on BrokerChannelLayer: `python3 -m django runworker
 * py-worker` with a minimal settings module (test/python/worker/) serves jobs
 * a Node process sends, and answers on the Node process's own channel.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { BrokerServer, RemoteChannelLayer } from "../../src/index.js";
import { PYTHON } from "../redis/python-peer.js";
import { PYTHON_PACKAGE } from "./helpers.js";

const WORKER_DIR = fileURLToPath(new URL("./worker", import.meta.url));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it("runworker serves a channel on the broker: Node's jobs are answered on Node's channel", async () => {
  const broker = new BrokerServer({ listen: "tcp://127.0.0.1:0", log: () => undefined });
  cleanups.push(() => broker.close());
  const [url] = (await broker.listen()) as [string];
  const worker = spawn(PYTHON, ["-m", "django", "runworker", "py-worker"], {
    cwd: WORKER_DIR,
    env: { ...process.env, BROKER_URL: url, DJANGO_SETTINGS_MODULE: "worker_settings", PYTHONPATH: `${WORKER_DIR}:${PYTHON_PACKAGE}`, PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  worker.stdout.on("data", (d: Buffer) => (log += d.toString()));
  worker.stderr.on("data", (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => worker.once("exit", (code) => resolve(code)));
  cleanups.push(async () => {
    if (worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
    await exited;
  });

  const layer = new RemoteChannelLayer(url);
  cleanups.push(() => layer.close());
  const reply = await layer.newChannel();
  for (const n of [1, 2, 3]) await layer.send("py-worker", { type: "job.run", n, reply });
  const answers = [];
  for (let i = 0; i < 3; i++) {
    const got = await layer.receive(reply, { signal: AbortSignal.timeout(15_000) }).catch((err: Error) => {
      throw new Error(`no answer from runworker (${err.message}); its output:\n${log}`);
    });
    answers.push(got.n);
  }
  expect(answers).toEqual([2, 4, 6]);
  worker.kill("SIGINT");
  await exited;
}, 30_000);
