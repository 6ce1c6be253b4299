/**
 * An HTTP load client in its own process (so the server under test has its
 * own event loop): CONCURRENCY keep-alive connections, each sending its next
 * request when the last one is answered, for `requests` requests in all.
 */
import { Agent, request } from "node:http";

interface Job {
  url: string;
  method: string;
  body?: string;
  requests: number;
  concurrency: number;
}

function one(agent: Agent, job: Job): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(job.url, { method: job.method, agent, headers: job.body ? { "content-type": "application/json" } : {} }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(job.body);
  });
}

async function run(job: Job): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  let next = 0;
  let failed = 0;
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (next < job.requests) {
        next++;
        const t = performance.now();
        const status = await one(agent, job);
        latencies.push(performance.now() - t);
        if (status !== 200) failed++;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  process.send!({ seconds, requests: job.requests, failed, p50Ms: at(0.5), p99Ms: at(0.99) }, () => process.exit(0));
}

// A failed run ends the child with its error rather than an unhandled rejection nobody sees.
process.once("message", (job: Job) => {
  run(job).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
});
