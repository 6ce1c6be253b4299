/**
 * Daphne serving the Django chat (chatsite.asgi) as a child process, on a free
 * loopback port it reports back: used by `npm run demo:django` and the tests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const PYTHON = process.env.CHANNELS_PYTHON ?? "/usr/bin/python3";
const HERE = fileURLToPath(new URL(".", import.meta.url));
/** This repository's Python layer (python/), for broker URLs: imported from the tree, installed or not. */
const PYTHON_PACKAGE = fileURLToPath(new URL("../../python", import.meta.url));

export interface Daphne {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** Start Daphne with CHANNEL_LAYER_URL; resolves once it listens. `port` 0 picks a free one. */
export function startDaphne(layerUrl: string, port = 0, host = "127.0.0.1"): Promise<Daphne> {
  const child = spawn(PYTHON, ["-m", "daphne", "-b", host, "-p", String(port), "chatsite.asgi:application"], {
    cwd: HERE,
    env: {
      ...process.env,
      CHANNEL_LAYER_URL: layerUrl,
      PYTHONUNBUFFERED: "1",
      PYTHONPATH: [PYTHON_PACKAGE, process.env.PYTHONPATH].filter(Boolean).join(":"),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let log = "";
    const onData = (d: Buffer): void => {
      log += d.toString();
      const m = /Listening on TCP address ([\d.]+):(\d+)/.exec(log);
      if (m) {
        child.stderr.off("data", onData);
        child.stderr.resume();
        resolve({ child, url: `http://${m[1]}:${m[2]}/`, stop });
      }
    };
    child.stderr.on("data", onData);
    child.stdout.resume();
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`daphne exited with ${code} before listening:\n${log}`)));
  });
}
