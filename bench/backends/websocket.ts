/**
 * WebSocket fan-out: 1,000 `ws` clients in 10 rooms on one server (serve() +
 * JsonWebSocketConsumer on the in-memory layer). Each round, one client per
 * room says something; a round ends when all 1,000 members have it. Rows:
 * deliveries per second and the delivery latency (send → every member's
 * receive) percentiles. Clients run in the same process as the server, so
 * their parsing shares the CPU; the figures are a floor.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import WebSocket from "ws";
import { InMemoryChannelLayer, JsonWebSocketConsumer, serve, type Message, type MessageValue } from "../../src/index.js";
import type { BenchBackend, ExtraResult } from "../types.js";

const CLIENTS = 1000;
const ROOMS = 10;

class BenchRoom extends JsonWebSocketConsumer {
  private get group(): string {
    return `bench.room.${this.scope.params.room}`;
  }
  override async connect(): Promise<void> {
    this.accept();
    await this.groupAdd(this.group);
    this.sendJson({ type: "ready" });
  }
  override async receiveJson(content: MessageValue): Promise<void> {
    await this.layer.groupSend(this.group, { type: "room.say", content });
  }
  room_say(m: Message): void {
    this.sendJson(m.content!);
  }
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function rooms(quick: boolean): Promise<ExtraResult> {
  const rounds = quick ? 20 : 100;
  const layer = new InMemoryChannelLayer();
  const server = createServer();
  const service = serve({ server, layer, routes: [{ path: "/bench/:room", consumer: BenchRoom }] });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  let latencies = new Float64Array(0);
  let got = 0;
  let roundDone: () => void = () => {};
  const clients: WebSocket[] = [];
  try {
    for (let i = 0; i < CLIENTS; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/bench/r${(i + j) % ROOMS}`);
          clients.push(ws);
          return new Promise<void>((resolve, reject) => {
            ws.once("error", reject);
            ws.once("message", () => {
              ws.on("message", (data: Buffer) => {
                const { t } = JSON.parse(data.toString()) as { t: number };
                latencies[got++] = performance.now() - t;
                if (got % CLIENTS === 0) roundDone();
              });
              resolve();
            });
          });
        }),
      );
    }
    const senders = clients.slice(0, ROOMS); // client k is in room k
    const round = (): Promise<void> =>
      new Promise<void>((resolve) => {
        roundDone = resolve;
        for (const ws of senders) ws.send(JSON.stringify({ t: performance.now(), text: "hello room" }));
      });

    latencies = new Float64Array(CLIENTS * 5);
    for (let r = 0; r < 5; r++) await round(); // warm-up
    latencies = new Float64Array(CLIENTS * rounds);
    got = 0;
    const start = performance.now();
    for (let r = 0; r < rounds; r++) await round();
    const seconds = (performance.now() - start) / 1000;
    latencies.sort();
    return {
      workload: "ws-rooms",
      n: got,
      seconds,
      opsPerSec: got / seconds,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      clients: CLIENTS,
      rooms: ROOMS,
      roomMessagesPerSec: Math.round((rounds * ROOMS) / seconds),
    };
  } finally {
    for (const ws of clients) ws.terminate();
    await service.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await layer.close();
  }
}

export const websocket: BenchBackend = {
  name: "websocket",
  available: async () => true,
  workloads: [],
  run: () => Promise.reject(new Error("the websocket backend has only extra rows")),
  extras: async (quick) => [await rooms(quick)],
};
