/**
 * examples/cluster as `npm run example:cluster` runs it: a node:cluster HTTP
 * server whose workers fan broadcasts out to each other's streams over ipc://.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { get, type IncomingMessage } from "node:http";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { nodeArgs } from "../children.js";

const SERVER = fileURLToPath(new URL("../../examples/cluster/server.ts", import.meta.url));
let primary: ChildProcess | undefined;
const streams: IncomingMessage[] = [];

afterEach(async () => {
  for (const s of streams.splice(0)) s.destroy();
  if (primary && primary.exitCode === null && primary.signalCode === null) {
    primary.kill("SIGKILL");
    await once(primary, "exit");
  }
});

/** An SSE stream: its worker (from the hello event) and its data events as they come. */
async function stream(url: string): Promise<{ worker: number; next(): Promise<Record<string, unknown>> }> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => get(new URL("/events", url), resolve).on("error", reject));
  streams.push(res);
  const events: string[] = [];
  const waiting: Array<(e: string) => void> = [];
  let buffer = "";
  res.setEncoding("utf8");
  res.on("data", (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const w = waiting.shift();
      if (w) w(event);
      else events.push(event);
    }
  });
  const nextRaw = (): Promise<string> => (events.length ? Promise.resolve(events.shift()!) : new Promise((r) => waiting.push(r)));
  const hello = await nextRaw();
  expect(hello).toMatch(/^event: hello\n/);
  const worker = (JSON.parse(hello.split("data: ")[1]!) as { worker: number }).worker;
  return { worker, next: async () => JSON.parse((await nextRaw()).replace(/^data: /, "")) as Record<string, unknown> };
}

it("POST /broadcast reaches the event streams on every worker; a killed worker is replaced; SIGTERM exits 0", async () => {
  primary = spawn(process.execPath, nodeArgs(SERVER), { env: { ...process.env, PORT: "0", WORKERS: "2" }, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  primary.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    primary!.stdout!.on("data", () => {
      const m = /cluster example on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    primary!.once("exit", (code) => reject(new Error(`example exited with ${code}: ${out}`)));
  });

  // Connections are spread over the workers; keep opening until two workers hold one each.
  const byWorker = new Map<number, Awaited<ReturnType<typeof stream>>>();
  for (let i = 0; i < 20 && byWorker.size < 2; i++) {
    const s = await stream(url);
    if (!byWorker.has(s.worker)) byWorker.set(s.worker, s);
  }
  expect(byWorker.size).toBe(2);
  const [a, b] = [...byWorker.values()];

  const sent = await fetch(new URL("/broadcast", url), { method: "POST", body: "hello all" });
  expect(sent.status).toBe(202);
  expect(await a!.next()).toMatchObject({ text: "hello all", to: a!.worker });
  expect(await b!.next()).toMatchObject({ text: "hello all", to: b!.worker });

  // A crashed worker is replaced; the survivor's stream still hears broadcasts.
  process.kill(b!.worker, "SIGKILL");
  for (let i = 0; i < 100 && !/starting a replacement/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
  expect(out).toMatch(new RegExp(`worker ${b!.worker} died \\(SIGKILL\\); starting a replacement`));
  for (let i = 0; i < 3; i++) expect((await fetch(new URL("/broadcast", url), { method: "POST", body: `again ${i}` })).status).toBe(202);
  for (let i = 0; i < 3; i++) expect(await a!.next()).toMatchObject({ text: `again ${i}`, to: a!.worker });

  for (const s of streams.splice(0)) s.destroy();
  primary.kill("SIGTERM");
  const [code] = (await once(primary, "exit")) as [number | null];
  expect(code).toBe(0);
}, 60_000);
