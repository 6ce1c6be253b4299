/** The broker's health endpoints, and `channel-layers stats` against a broker that is not there. */
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { CLI } from "../../bench/backends/broker.js";
import { BrokerServer, RemoteChannelLayer } from "../../src/index.js";
import { ObserveServer } from "../../src/observe/http.js";
import { nodeArgs } from "../children.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("--http /healthz and /readyz", () => {
  it("healthz says the process is up; readyz whether clients are accepted", async () => {
    const server = new BrokerServer({ listen: "tcp://127.0.0.1:0", maxConnections: 1 });
    const [url] = await server.listen();
    cleanups.push(() => server.close());
    const http = new ObserveServer(server.broker);
    const base = await http.listen();
    cleanups.push(() => http.close());
    const get = async (path: string) => {
      const res = await fetch(base + path);
      return [res.status, (await res.text()).trim()];
    };
    expect(await get("/healthz")).toEqual([200, "ok"]);
    expect(await get("/readyz")).toEqual([200, "ready"]);
    const layer = new RemoteChannelLayer(url!);
    cleanups.push(() => layer.close());
    await layer.whenReady();
    expect(await get("/readyz")).toEqual([503, "at the connection limit"]);
    await server.close();
    expect(await get("/healthz")).toEqual([200, "ok"]);
    expect(await get("/readyz")).toEqual([503, "shutting down"]);
  });
});

describe("channel-layers stats URL", () => {
  it("exits 1 with one line when the broker is unreachable", { timeout: 30_000 }, async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const result = await promisify(execFile)(process.execPath, [...nodeArgs(CLI), "stats", `tcp://127.0.0.1:${port}`]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(result?.code).toBe(1);
    const lines = result!.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^channel-layers: stats: the broker at tcp://127\\.0\\.0\\.1:${port}/? .*unreachable`));
  });
});
