/**
 * The HTTP gateway (docs/request.md) against the floor it adds to: a plain
 * `node:http` server with the same no-op handler, each loaded by the same
 * client process (http-load.ts) in one run. Rows: the gateway in front of a
 * no-op worker on the in-memory layer, the plain server, and the gateway
 * answering a cached route.
 */
import { fork } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { createGateway, InMemoryChannelLayer, runWorker } from "../../src/index.js";
import type { BenchBackend, ExtraResult } from "../types.js";

const CLIENT = fileURLToPath(new URL("./http-load.ts", import.meta.url));
const CONCURRENCY = 64;
const BODY = JSON.stringify({ ok: true });

interface LoadResult {
  seconds: number;
  requests: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
}

function load(url: string, requests: number): Promise<LoadResult> {
  const child = fork(CLIENT, { execArgv: ["--import", "tsx"], stdio: "inherit" });
  child.send({ url, method: "GET", requests, concurrency: CONCURRENCY });
  return new Promise((resolve, reject) => {
    child.once("message", (m) => resolve(m as LoadResult));
    child.once("exit", (code) => reject(new Error(`http load client exited with ${code} before reporting`)));
  });
}

function listening(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function row(workload: string, r: LoadResult, extra: Record<string, number | string> = {}): ExtraResult {
  if (r.failed > 0) throw new Error(`${workload}: ${r.failed} of ${r.requests} requests failed`);
  return { workload, n: r.requests, seconds: r.seconds, opsPerSec: r.requests / r.seconds, p50Ms: r.p50Ms, p99Ms: r.p99Ms, concurrency: CONCURRENCY, ...extra };
}

async function rows(quick: boolean): Promise<ExtraResult[]> {
  const requests = quick ? 2_000 : 20_000;
  const plain = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(BODY);
  });
  const layer = new InMemoryChannelLayer({ capacity: 1000 });
  const worker = runWorker(layer, "bench.http", () => ({ type: "http.response", body: { ok: true } }), { concurrency: 8 });
  const gateway = createGateway({
    layer,
    routes: [
      { method: "GET", path: "/noop", channel: "bench.http" },
      { method: "GET", path: "/cached", channel: "bench.http", cacheFor: 60 },
    ],
  });
  try {
    const plainUrl = await listening(plain);
    const base = await gateway.listen();
    await load(`${plainUrl}/`, requests / 10); // warm both up
    await load(`${base}/noop`, requests / 10);
    const floor = await load(`${plainUrl}/`, requests);
    const through = await load(`${base}/noop`, requests);
    const cached = await load(`${base}/cached`, requests);
    const floorRate = floor.requests / floor.seconds;
    return [
      row("http-plain", floor),
      row("http-gateway", through, { vsPlain: ((through.requests / through.seconds) / floorRate).toFixed(2) }),
      row("http-gateway-cached", cached, { vsPlain: ((cached.requests / cached.seconds) / floorRate).toFixed(2) }),
    ];
  } finally {
    await gateway.close();
    await worker.stop();
    await layer.close();
    plain.closeAllConnections();
    await new Promise<void>((resolve) => plain.close(() => resolve()));
  }
}

export const gateway: BenchBackend = {
  name: "gateway",
  available: async () => true,
  workloads: [],
  run: () => Promise.reject(new Error("the gateway backend has only extra rows")),
  extras: rows,
};
