/** `channel-layers gateway` as operators run it: in its own process, in front of workers on a real broker. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, expect, it } from "vitest";
import { CLI, spawnBroker } from "../../bench/backends/broker.js";
import { RemoteChannelLayer, runWorker } from "../../src/index.js";
import { nodeArgs } from "../children.js";

const run = promisify(execFile);
const children: ChildProcess[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

it("serves its routes from workers on the broker and stops cleanly on SIGTERM", async () => {
  const broker = await spawnBroker("tcp://127.0.0.1:0", []);
  children.push(broker.child);
  const layer = new RemoteChannelLayer(broker.url);
  const worker = runWorker(layer, "hello.world", (m) => ({ type: "http.response", body: `hello ${String((m.params as Record<string, string>).name)}` }));
  closers.push(() => layer.close(), () => worker.stop());
  const gateway = spawn(process.execPath, [...nodeArgs(CLI), "gateway", "--listen", "http://127.0.0.1:0", "--layer", broker.url, "--route", "GET /hello/:name hello.world"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(gateway);
  const base = await new Promise<string>((resolve, reject) => {
    let out = "";
    gateway.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /GET (http:\/\/[^/\s]+)\/hello/.exec(out);
      if (m) resolve(m[1]!);
    });
    gateway.once("exit", (code) => reject(new Error(`gateway exited with ${code}: ${out}`)));
  });
  const res = await fetch(`${base}/hello/ada`);
  expect(await res.text()).toBe("hello ada");
  const exited = new Promise<number | null>((resolve) => gateway.once("exit", resolve));
  gateway.kill("SIGTERM");
  expect(await exited).toBe(0);
});

it("refuses a non-loopback --listen without --token-file, in one line", async () => {
  const err = await run(process.execPath, [...nodeArgs(CLI), "gateway", "--listen", "http://0.0.0.0:0", "--route", "GET /x x"]).catch((e: unknown) => e as { code: number; stderr: string });
  expect(err).toMatchObject({ code: 2 });
  expect((err as { stderr: string }).stderr.trim()).toBe("channel-layers: --listen 0.0.0.0:0 is not a loopback address: pass --token-file so that only your clients get through");
});

it("names the flag of a bad --route", async () => {
  const err = await run(process.execPath, [...nodeArgs(CLI), "gateway", "--route", "GET /x"]).catch((e: unknown) => e as { code: number; stderr: string });
  expect((err as { stderr: string }).stderr.trim()).toBe('channel-layers: --route "GET /x": expected "METHOD PATH CHANNEL [cache=SECONDS] [timeout=SECONDS]"');
});

it("names the flag of a bad --allowed-host, in one line", async () => {
  const err = await run(process.execPath, [...nodeArgs(CLI), "gateway", "--route", "GET /x x", "--allowed-host", "http://app.example.com"]).catch((e: unknown) => e as { code: number; stderr: string });
  expect((err as { stderr: string }).stderr.trim()).toBe('channel-layers: --allowed-host "http://app.example.com" is not a host name: give one without scheme or port, e.g. app.example.com or *.example.com');
});
