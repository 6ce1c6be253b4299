/** The broker as users run it: `channel-layers serve` in its own process, killed, restarted, stopped. */
import { execFile, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { CLI, spawnBroker, stopBroker } from "../../bench/backends/broker.js";
import { ConnectionLostError, RemoteChannelLayer } from "../../src/index.js";
import { sleep } from "../conformance/helpers.js";
import { tempDir } from "./helpers.js";
import { nodeArgs } from "../children.js";

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, [...nodeArgs(CLI), ...args]);

const children: ChildProcess[] = [];
const layers: RemoteChannelLayer[] = [];
const dir = tempDir();
afterEach(async () => {
  await Promise.all(layers.splice(0).map((l) => l.close()));
  await Promise.all(children.splice(0).map((c) => stopBroker(c)));
});
afterAll(() => dir.remove());

async function serve(listen: string, ...extra: string[]) {
  const b = await spawnBroker(listen, extra);
  children.push(b.child);
  return b;
}

describe("channel-layers serve", () => {
  it("--help prints the usage", async () => {
    const { stdout } = await cli("serve", "--help");
    expect(stdout).toMatch(/--listen URL/);
    expect(stdout).toMatch(/--token-file FILE/);
    expect(stdout).toMatch(/--max-connections N/);
  });

  it("logs its lifecycle, answers stats, and exits 0 on SIGTERM, ending pending receives cleanly", async () => {
    const tokenFile = join(dir.path, "token");
    writeFileSync(tokenFile, "cli-secret\n");
    const sock = join(dir.path, "cli.sock");
    const { child, url, log } = await serve("tcp://127.0.0.1:0", "--listen", `unix://${sock}`, "--token-file", tokenFile);
    await sleep(50);
    expect(log()).toMatch(new RegExp(`listening on ${url}[\\s\\S]*listening on unix://${sock}`));

    const layer = new RemoteChannelLayer(`unix://${sock}`, { token: "cli-secret", connectTimeout: 300 });
    layers.push(layer);
    await layer.send("queued", { type: "a" });
    await layer.groupAdd("room", "queued");
    const { stdout } = await cli("stats", url, "--token-file", tokenFile);
    expect(stdout).toMatch(/channels\s+1/);
    expect(stdout).toMatch(/messages\s+1/);
    expect(stdout).toMatch(/groups\s+1/);
    expect(stdout).toMatch(/members\s+1/);
    expect(stdout).toMatch(/clients\s+2/);
    expect(log()).toMatch(/client \d+ connected \(unix socket/);

    const pending = layer.receive("never");
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(log()).toMatch(/SIGTERM received[\s\S]*shutting down[\s\S]*stopped/);
    await expect(pending).rejects.toBeInstanceOf(ConnectionLostError);
  });

  it("stats reports a missing token as an authentication error", async () => {
    const tokenFile = join(dir.path, "token2");
    writeFileSync(tokenFile, "other");
    const { url } = await serve("tcp://127.0.0.1:0", "--token-file", tokenFile);
    const err = await cli("stats", url).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 1, stderr: expect.stringMatching(/ERR_AUTHENTICATION/) });
  });

  it("refuses bad arguments with a clear message", async () => {
    // Independent runs of the CLI, started together: each is a process start, the slow part.
    const [err, dashed] = (await Promise.all([
      cli("serve", "--max-connections", "lots").catch((e: { code: number; stderr: string }) => e),
      // A value that starts with a dash: one line naming the flag, not node:util's three.
      cli("serve", "--capacity", "-5").catch((e: { code: number; stderr: string }) => e),
    ])) as [{ code: number; stderr: string }, { code: number; stderr: string }];
    expect(err).toMatchObject({ code: 2, stderr: expect.stringMatching(/--max-connections must be a positive integer, got "lots"/) });
    expect(dashed.code).toBe(2);
    expect(dashed.stderr.trim().split("\n")).toEqual(['channel-layers: --capacity needs a value (one that starts with "-" is written --capacity=-…) (see channel-layers serve --help)']);
  });

  it("--hello-timeout closes a connection that does not say hello in time; a bad value is one line naming the flag", async () => {
    // Independent runs of the CLI, started together with the broker: each is a process start, the slow part.
    const bads = ["0", "soon", "inf", "7200"];
    const [refusals, { url, log }] = await Promise.all([
      Promise.all(bads.map((bad) => cli("serve", "--hello-timeout", bad).catch((e: { code: number; stderr: string }) => e))),
      serve("tcp://127.0.0.1:0", "--hello-timeout", "0.3"),
    ]);
    bads.forEach((bad, i) => {
      const err = refusals[i] as { code: number; stderr: string };
      expect(err).toMatchObject({ code: 2 });
      expect(err.stderr.trim().split("\n")).toEqual([`channel-layers: --hello-timeout must be a positive number of at most 3600, got "${bad}"`]);
    });
    const silent = createConnection({ host: "127.0.0.1", port: Number(new URL(url).port) });
    silent.on("error", () => {});
    // Well before the default 5 s.
    await new Promise((resolve) => silent.once("close", resolve));
    expect(log()).toMatch(/did not say hello within 300 ms/);
  });
});

describe("a broker killed and restarted mid-stream", () => {
  it("clients reconnect and nothing is received twice", { timeout: 30_000 }, async () => {
    const first = await serve("tcp://127.0.0.1:0", "--capacity", "inf");
    const port = new URL(first.url).port;
    const producer = new RemoteChannelLayer(first.url, { connectTimeout: 10_000 });
    const consumer = new RemoteChannelLayer(first.url, { connectTimeout: 10_000 });
    layers.push(producer, consumer);

    const received: number[] = [];
    const stop = new AbortController();
    const consuming = (async () => {
      for (;;) {
        const m = await consumer.receive("stream", { signal: stop.signal }).catch((err: Error) => err);
        if (m instanceof Error) {
          if (stop.signal.aborted) return;
          // ConnectionLostError while the broker is down: keep going, after a pause. Once the broker has been down
          // longer than connectTimeout (a restart slowed by load) a receive fails at once, and retrying without a
          // pause was a loop of microtasks that starved every timer, the test's timeout included: it hung for good.
          await sleep(10);
          continue;
        }
        received.push(m.i as number);
      }
    })();

    const total = 600;
    const sentAfterRestart: number[] = [];
    let restarted = false;
    for (let i = 0; i < total; i++) {
      if (i === 300) {
        first.child.kill("SIGKILL");
        await sleep(200);
        await serve(`tcp://127.0.0.1:${port}`, "--capacity", "inf");
        restarted = true;
      }
      try {
        await producer.send("stream", { type: "n", i });
        if (restarted) sentAfterRestart.push(i);
      } catch (err) {
        expect(err).toBeInstanceOf(ConnectionLostError); // in flight when the broker died
      }
      if (i % 10 === 0) await sleep(1);
    }
    const deadline = Date.now() + 10_000;
    while (!sentAfterRestart.every((i) => received.includes(i)) && Date.now() < deadline) await sleep(20);
    stop.abort();
    await consuming;

    expect(new Set(received).size).toBe(received.length);
    expect(sentAfterRestart.length).toBeGreaterThan(250);
    expect(sentAfterRestart.filter((i) => !received.includes(i))).toEqual([]);
    // Order is kept within each broker's lifetime.
    expect(received.filter((i) => i >= 300)).toEqual([...received.filter((i) => i >= 300)].sort((a, b) => a - b));
  });
});
