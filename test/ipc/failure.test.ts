import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { serveIpc, type IpcServer } from "../../src/index.js";
import { tempDir } from "../remote/helpers.js";
import { exited, fixture, forkTs, workerTs } from "./helpers.js";
import { waitFor } from "../wait.js";
import { nodeArgs } from "../children.js";

const servers: IpcServer[] = [];
const children: Array<ChildProcess | Worker> = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child instanceof Worker) await child.terminate();
    else if (child.exitCode === null && child.signalCode === null) {
      child.kill();
      await exited(child);
    }
  }
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** The next message that is not the layer's own handshake (those carry the channelLayersIpc key). */
function next<T>(peer: { on(event: "message", fn: (m: T) => void): unknown; off(event: "message", fn: (m: T) => void): unknown }): Promise<T> {
  return new Promise((resolve) => {
    const listener = (m: T): void => {
      if (typeof m === "object" && m !== null && "channelLayersIpc" in m) return;
      peer.off("message", listener);
      resolve(m);
    };
    peer.on("message", listener);
  });
}

describe("ipc: when a child dies", () => {
  it("a killed child's connection, waiting receive, memberships and process-local messages go at once", async () => {
    const child = forkTs("member.ts");
    children.push(child);
    const server = serveIpc(child);
    servers.push(server);
    const ready = await next<{ roundtrip: string }>(child);
    expect(ready.roundtrip).toBe("ping");
    await waitFor("the receive waits in the broker", () => server.stats().waitingReceivers === 1, { timeout: 2000 });
    expect(server.stats()).toMatchObject({ clients: 1, members: 1, waitingReceivers: 1, messages: 1 });
    child.kill("SIGKILL");
    await exited(child);
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.stats()).toMatchObject({ clients: 0, members: 0, waitingReceivers: 0, messages: 0 });
  });

  it("a terminated worker thread's state goes at once too", async () => {
    const worker = workerTs("member.ts");
    children.push(worker);
    const server = serveIpc(worker);
    servers.push(server);
    await next(worker);
    await waitFor("the receive waits in the broker", () => server.stats().waitingReceivers === 1, { timeout: 2000 });
    expect(server.stats()).toMatchObject({ members: 1, waitingReceivers: 1, messages: 1 });
    await worker.terminate();
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.stats()).toMatchObject({ members: 0, waitingReceivers: 0, messages: 0 });
  });

  it("the user's own IPC messages pass both ways untouched", async () => {
    const child = forkTs("member.ts");
    children.push(child);
    servers.push(serveIpc(child));
    const seen: unknown[] = [];
    child.on("message", (m) => seen.push(m));
    await next(child);
    child.send({ user: "hi", n: 1 });
    expect(await next(child)).toEqual({ echo: { user: "hi", n: 1 } });
    // The parent saw only the handshake (tagged) besides the child's own messages.
    expect(seen.filter((m) => !(typeof m === "object" && m !== null && "channelLayersIpc" in m))).toEqual([
      { ready: true, channel: expect.any(String), inbox: expect.any(String), roundtrip: "ping" },
      { echo: { user: "hi", n: 1 } },
    ]);
    child.kill();
    await exited(child);
  });
});

describe("ipc: serveIpc's targets", () => {
  it("refuses, before starting anything, a child without an IPC channel or something that is no child", () => {
    const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    children.push(child);
    expect(() => serveIpc(child)).toThrow(/no IPC channel.*fork\(\)/);
    expect(() => serveIpc({} as never)).toThrow(/must be the node:cluster module/);
  });
});

describe("ipc: without a serving parent", () => {
  it("a process with no IPC channel gets an error at once saying to call serveIpc in the parent", async () => {
    const child = spawn(process.execPath, [...nodeArgs(fixture("orphan.ts")), "no-ipc"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    await exited(child);
    const result = JSON.parse(out) as { name: string; message: string };
    expect(result.name).toBe("ConnectionLostError");
    expect(result.message).toMatch(/serveIpc\(/);
  });

  it("a parent that calls serveIpc only after forking is still found: the layer keeps asking", async () => {
    const child = forkTs("member.ts");
    children.push(child);
    // The child's first question goes unanswered: serveIpc comes after the child's handshakeTimeout (300 ms).
    await new Promise<void>((resolve) => child.on("message", (m) => typeof m === "object" && m !== null && "channelLayersIpc" in m && resolve()));
    await new Promise((r) => setTimeout(r, 400));
    servers.push(serveIpc(child));
    expect(await next(child)).toMatchObject({ ready: true, roundtrip: "ping" });
  });

  it("a child whose parent never called serveIpc gets ConnectionLostError within connectTimeout, naming serveIpc", async () => {
    const child = forkTs("orphan.ts", ["unserved"]);
    const { error } = await next<{ error: { name: string; message: string } }>(child);
    expect(error.name).toBe("ConnectionLostError");
    expect(error.message).toMatch(/did not answer.*serveIpc\(/);
    await exited(child);
  });

  it("after serveIpc().close(), the children's calls reject with ConnectionLostError", async () => {
    const child = forkTs("member.ts");
    children.push(child);
    const server = serveIpc(child);
    await next(child);
    await server.close();
    expect(server.stats().clients).toBe(0);
    child.send({ user: "send" });
    expect(await next(child)).toMatchObject({ sent: false, name: "ConnectionLostError", message: expect.stringMatching(/serveIpc\(/) });
  });
});

describe("ipc: when the parent dies", () => {
  it("the children's waiting receives and later calls reject with ConnectionLostError", async () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "result.json");
      const parent = forkTs("orphan.ts", ["doomed", file]);
      await next(parent);
      parent.kill("SIGKILL");
      await exited(parent);
      for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
      const result = JSON.parse(readFileSync(file, "utf8")) as Record<string, { name: string; message: string }>;
      expect(result.receive?.name).toBe("ConnectionLostError");
      expect(result.send?.name).toBe("ConnectionLostError");
      expect(result.send?.message).toMatch(/parent process is gone/);
    } finally {
      dir.remove();
    }
  });
});

describe("ipc: clean exit", () => {
  it("a forked child whose layer is closed exits by itself", async () => {
    const child = forkTs("clean-exit.ts");
    children.push(child);
    servers.push(serveIpc(child));
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
  });

  it("a parent that exits without close() leaves no socket behind", async () => {
    const parent = spawn(process.execPath, [...nodeArgs(fixture("orphan.ts")), "exit"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    parent.stdout.on("data", (c: Buffer) => (out += c.toString()));
    await exited(parent);
    const socket = out.trim();
    expect(socket).toMatch(/channel-layers-ipc-.*broker\.sock$/);
    expect(existsSync(dirname(socket))).toBe(false);
  });

  it("a worker thread whose layer is closed exits by itself", async () => {
    const worker = workerTs("clean-exit.ts");
    servers.push(serveIpc(worker));
    const [code] = (await once(worker, "exit")) as [number];
    expect(code).toBe(0);
  });
});
