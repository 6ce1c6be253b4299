/**
 * The attacker's kit: a real broker in its own process (so that a crash is
 * seen as an exit, and its memory as its RSS), raw sockets speaking the wire
 * protocol by hand, and a good client whose round trips must keep going.
 * Every loop here is bounded in count and in time; everything is on loopback.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { pathToFileURL } from "node:url";
import { spawnBroker, stopBroker } from "../../../bench/backends/broker.js";
import { RemoteChannelLayer } from "../../../src/index.js";
import { encodeFrames } from "../../../src/protocol/frames.js";
import { instanceIdOf } from "../../../src/protocol/identity.js";
import { Op, PROTOCOL_VERSION } from "../../../src/protocol/ops.js";
import { childEntry } from "../../children.js";

export interface ChildBroker {
  child: ChildProcess;
  url: string;
  port: number;
  log(): string;
  /** Resident memory of the broker process, in MB. */
  rssMb(): number;
  alive(): boolean;
  stop(): Promise<void>;
}

export function childBroker(...extra: string[]): Promise<ChildBroker> {
  return childBrokerOn([], ...extra);
}

/** A child broker whose node runs with `nodeArgs` (a smaller heap: `--max-old-space-size=256`). */
export async function childBrokerOn(nodeArgs: string[], ...extra: string[]): Promise<ChildBroker> {
  const { child, url, log } = await spawnBroker("tcp://127.0.0.1:0", extra, nodeArgs);
  return {
    child,
    url,
    port: Number(new URL(url).port),
    log,
    rssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: () => stopBroker(child),
  };
}

/** A socket to the broker that swallows its errors (the broker may well end it). */
export function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.on("error", () => {});
    socket.resume(); // what the broker says is read and dropped; a test that means not to read pauses it
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** A hello as the instance whose secret is `secret` (its id derives from it). */
export function helloFrame(secret: string, token: string | null = null, id = 1): unknown[] {
  return [Op.Hello, id, PROTOCOL_VERSION, instanceIdOf(secret), token, secret];
}

export const frameBytes = (...frames: unknown[][]): Buffer => encodeFrames(frames);

/** Resolves when the socket is closed by the broker, or after `ms` with false. */
export function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export { sleep } from "../../wait.js";

/**
 * The good client: send-then-receive round trips on its own channel for
 * `ms`, each bounded by a 5 s timeout. Returns how many completed and the
 * slowest, in ms; a round trip that times out counts as a failure.
 */
export async function goodClient(
  url: string,
  ms: number,
  token?: string,
  /** Receive first, then send: the message is handed over, never stored (for a broker at maxStoredBytes). */
  receiveFirst = false,
): Promise<{ ops: number; failures: number; maxMs: number; p99Ms: number }> {
  const layer = new RemoteChannelLayer(url, { token, connectTimeout: 3000 });
  const channel = `good.${process.pid}.${Math.random().toString(36).slice(2)}`;
  const end = Date.now() + ms;
  let ops = 0;
  let failures = 0;
  let maxMs = 0;
  const took: number[] = [];
  try {
    while (Date.now() < end) {
      const start = performance.now();
      try {
        await withTimeout(
          (async () => {
            if (receiveFirst) {
              const got = layer.receive(channel);
              await layer.send(channel, { type: "ping", n: ops });
              await got;
            } else {
              await layer.send(channel, { type: "ping", n: ops });
              await layer.receive(channel);
            }
          })(),
          5000,
        );
        ops++;
      } catch {
        failures++;
      }
      took.push(performance.now() - start);
      maxMs = Math.max(maxMs, took.at(-1)!);
    }
  } finally {
    await layer.close();
  }
  took.sort((a, b) => a - b);
  return { ops, failures, maxMs, p99Ms: took[Math.floor(took.length * 0.99)] ?? 0 };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** What the attacker's code imports: kit.ts, compiled (test/children.ts). */
const KIT = new URL("./kit.ts", import.meta.url);

/**
 * Run an attack in its own process, so that its loops do not slow the good
 * client's process: `body` is module code with the helpers, `Op` and `port`
 * in scope. Resolves once it prints "ready"; `stop` kills it.
 */
export async function attacker(port: number, body: string): Promise<{ stop(): Promise<void> }> {
  const { file, execArgv } = childEntry(KIT);
  const code = `import { frameBytes, helloFrame, rawSocket, sleep, Op } from ${JSON.stringify(pathToFileURL(file).href)};
const port = ${port};
${body}
console.log("ready");`;
  const child = spawn(process.execPath, [...execArgv, "--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("ready")) resolve();
    });
    child.once("exit", (c) => reject(new Error(`attacker exited with ${c} before it was ready`)));
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}
