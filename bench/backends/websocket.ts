/**
 * WebSocket fan-out: 1,000 `ws` clients in 10 rooms on one server (serve() +
 * JsonWebSocketConsumer on the in-memory layer). Each round, one client per
 * room says something; a round ends when all 1,000 members have it. Rows:
 * deliveries per second and the delivery latency (client send → each member's
 * receive) percentiles. The clients run in a child process
 * (websocket-clients.ts), so the server has its own event loop.
 */
import { fork } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { InMemoryChannelLayer, JsonWebSocketConsumer, serve, type Message, type MessageValue } from "../../src/index.js";
import type { BenchBackend, ExtraResult } from "../types.js";

const CLIENTS = 1000;
const ROOMS = 10;
const CLIENT_SCRIPT = fileURLToPath(new URL("./websocket-clients.ts", import.meta.url));

interface ClientResult {
  deliveries: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  error?: string;
}

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

async function rooms(quick: boolean): Promise<ExtraResult> {
  const rounds = quick ? 20 : 200;
  const layer = new InMemoryChannelLayer();
  const server = createServer();
  const service = serve({ server, layer, routes: [{ path: "/bench/:room", consumer: BenchRoom }] });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const child = fork(CLIENT_SCRIPT, { execArgv: ["--import", "tsx"], stdio: "inherit" });
  try {
    child.send({ port: (server.address() as AddressInfo).port, clients: CLIENTS, rooms: ROOMS, warmup: 10, rounds });
    const result = await new Promise<ClientResult>((resolve, reject) => {
      child.once("message", (m) => resolve(m as ClientResult));
      child.once("exit", (code) => reject(new Error(`websocket bench clients exited with ${code} before reporting`)));
    });
    if (result.error) throw new Error(`websocket bench clients failed: ${result.error}`);
    return {
      workload: "ws-rooms",
      n: result.deliveries,
      seconds: result.seconds,
      opsPerSec: result.deliveries / result.seconds,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      clients: CLIENTS,
      rooms: ROOMS,
      roomMessagesPerSec: Math.round((rounds * ROOMS) / result.seconds),
    };
  } finally {
    if (child.exitCode === null) child.kill();
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
