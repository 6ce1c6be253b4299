/**
 * The client side of the websocket bench, run in its own process (forked by
 * websocket.ts) so the server's event loop has a core of its own, as it
 * would in production. Opens the clients, runs the rounds, and sends back
 * the latencies; sender and receivers share this process's clock.
 *
 *   IPC in:  { port, clients, rooms, warmup, rounds }
 *   IPC out: { deliveries, seconds, p50Ms, p99Ms } or { error }
 */
import WebSocket from "ws";

interface Job {
  port: number;
  clients: number;
  rooms: number;
  warmup: number;
  rounds: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function run({ port, clients: count, rooms, warmup, rounds }: Job): Promise<Record<string, number>> {
  let latencies = new Float64Array(count * warmup);
  let got = 0;
  let roundDone: () => void = () => {};
  const clients: WebSocket[] = [];
  try {
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, count - i) }, (_, j) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/bench/r${(i + j) % rooms}`);
          clients.push(ws);
          return new Promise<void>((resolve, reject) => {
            ws.once("error", reject);
            ws.once("message", () => {
              // The first frame says the consumer has joined its room.
              ws.on("message", (data: Buffer) => {
                const { t } = JSON.parse(data.toString()) as { t: number };
                latencies[got++] = performance.now() - t;
                if (got % count === 0) roundDone();
              });
              resolve();
            });
          });
        }),
      );
    }
    const senders = clients.slice(0, rooms); // client k is in room k
    const round = (): Promise<void> =>
      new Promise<void>((resolve) => {
        roundDone = resolve;
        for (const ws of senders) ws.send(JSON.stringify({ t: performance.now(), text: "hello room" }));
      });
    for (let r = 0; r < warmup; r++) await round();
    latencies = new Float64Array(count * rounds);
    got = 0;
    const start = performance.now();
    for (let r = 0; r < rounds; r++) await round();
    const seconds = (performance.now() - start) / 1000;
    latencies.sort();
    return { deliveries: got, seconds, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
  } finally {
    for (const ws of clients) ws.terminate();
  }
}

process.once("message", (job: Job) => {
  run(job).then(
    (result) => process.send!(result, () => process.exit(0)),
    (err: unknown) => process.send!({ error: String(err) }, () => process.exit(1)),
  );
});
