/** The CLI as operators run it: `serve --http` and `stats URL [--watch]`, each in its own process. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, spawnBroker, stopBroker } from "../../bench/backends/broker.js";
import { RemoteChannelLayer } from "../../src/index.js";
import { metric, scrape } from "./helpers.js";
import { waitFor } from "../wait.js";
import { nodeArgs } from "../children.js";

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, [...nodeArgs(CLI), ...args]);

const children: ChildProcess[] = [];
const layers: RemoteChannelLayer[] = [];
afterEach(async () => {
  await Promise.all(layers.splice(0).map((l) => l.close()));
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

async function broker(...extra: string[]) {
  const b = await spawnBroker("tcp://127.0.0.1:0", extra);
  children.push(b.child);
  return b;
}

function client(url: string): RemoteChannelLayer {
  const layer = new RemoteChannelLayer(url);
  layers.push(layer);
  return layer;
}

/** `channel-layers stats URL --watch` as a child process, with what it has printed so far and its exit code. */
function watchStats(url: string): { watch: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const watch = spawn(process.execPath, [...nodeArgs(CLI), "stats", url, "--watch", "--interval", "0.2"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(watch);
  let out = "";
  watch.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => watch.once("exit", (code) => resolve(code)));
  return { watch, output: () => out, exited };
}

/** The `name value` lines at the top of a stats frame. */
function figures(frame: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [, k, v] of frame.matchAll(/^(channels|messages|waiting|groups|members|clients) +([\d,]+)$/gm)) {
    out[k!] = Number(v!.replace(/,/g, ""));
  }
  return out;
}

describe("channel-layers serve --http", () => {
  it("serves metrics on the address it logs, and still exits 0 on SIGTERM", async () => {
    const { child, url, log } = await broker("--http", "127.0.0.1:0");
    await waitFor("the HTTP address is logged", () => /status page on (http:\/\/\S+)\//.test(log()), { timeout: 10000, interval: 20 });
    const http = /status page on (http:\/\/\S+)\//.exec(log())![1]!;
    expect(log()).toMatch(/no authentication/);
    await client(url).send("q", { type: "x" });
    const m = await scrape(http);
    expect(metric(m, "channel_layers_messages")).toBe(1);
    expect(metric(m, "channel_layers_connections")).toBe(1);
    const html = await (await fetch(`${http}/`)).text();
    expect(html).toMatch(/channel-layers broker/);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await stopBroker(child);
    expect(await exited).toBe(0);
  });

  it("refuses an --http address it cannot use, saying why", async () => {
    const err = await cli("serve", "--listen", "tcp://127.0.0.1:0", "--http", "localhost").catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toMatch(/"localhost" has no port/);
  });
});

describe("channel-layers stats", () => {
  it("prints figures, counters, the busiest channels, the largest groups and clients", async () => {
    const { url } = await broker();
    const a = client(url);
    for (let i = 0; i < 3; i++) await a.send("busy", { type: "m" });
    await a.send("calm", { type: "m" });
    await a.send("rare", { type: "m" });
    await a.groupAdd("room", "busy");
    const { stdout } = await cli("stats", url, "--top", "2");
    expect(figures(stdout)).toEqual({ channels: 3, messages: 5, waiting: 0, groups: 1, members: 1, clients: 2 });
    expect(stdout).toMatch(/sent 5 +received 0/);
    expect(stdout).toMatch(/busiest channels\n +channel +queued +waiting\n +busy +3 +0\n +calm +1 +0\n\n/);
    expect(stdout).toMatch(/largest groups\n +group +members\n +room +1\n/);
    expect(stdout).toMatch(/clients\n +address +id +instance +waiting\n( +tcp 127\.0\.0\.1:\d+ +\d+ +[A-Za-z0-9]+ +0\n){2}/);
  });

  it("refuses a --top it cannot ask for", async () => {
    const err = await cli("stats", "tcp://127.0.0.1:1", "--top", "500").catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2, stderr: expect.stringMatching(/--top must be an integer from 1 to 100/) });
  });

  it("--watch redraws as the broker changes, and exits 0 on Ctrl-C", async () => {
    const { url } = await broker();
    const a = client(url);
    for (let i = 0; i < 4; i++) await a.send("jobs", { type: "m" });
    const { watch, output, exited } = watchStats(url);
    // Piped, frames follow each other; each starts with its "broker" line.
    const frames = (): string[] => output().split(/^(?=broker {3})/m).filter((f) => f.trim() !== "");
    await waitFor("two frames were printed", () => frames().length >= 2, { timeout: 10000, interval: 20 });
    expect(figures(frames()[0]!)).toMatchObject({ channels: 1, messages: 4, clients: 2 });

    for (let i = 0; i < 7; i++) await a.send("jobs", { type: "m" });
    await waitFor("a frame shows the new messages", () => frames().some((f) => figures(f).messages === 11), { timeout: 10000, interval: 20 });

    watch.kill("SIGINT");
    expect(await exited).toBe(0);
    // Its connection is gone from the broker once it exits.
    const after = (await cli("stats", url)).stdout;
    expect(figures(after).clients).toBe(2); // a, and this stats command itself
  });

  it("--watch says when the broker is gone, keeps watching, and still exits 0 on Ctrl-C", async () => {
    const { child, url } = await broker();
    const { watch, output, exited } = watchStats(url);
    await waitFor("a first frame", () => /clients +1/.test(output()), { timeout: 10000, interval: 20 });
    await stopBroker(child);
    await waitFor("a frame says the broker is gone", () => /ERR_CONNECTION_LOST|lost|unreachable/i.test(output()), { timeout: 10000, interval: 20 });
    expect(watch.exitCode).toBeNull();
    watch.kill("SIGINT");
    expect(await exited).toBe(0);
  });
});
