/**
 * The ws-rooms workload, shared by every WebSocket server the bench compares:
 * 1,000 clients in 10 rooms on one server. Each round, one client per room
 * says something; a round ends when all 1,000 members have it. Rows:
 * deliveries per second and the delivery latency (client send → each member's
 * receive) percentiles. The clients run in a child process
 * (websocket-clients.ts), so the server has its own event loop.
 */
import { fork } from "node:child_process";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { ExtraResult } from "../types.js";
import type { RoomsProtocol } from "./websocket-clients.js";

export const CLIENTS = 1000;
export const ROOMS = 10;
const CLIENT_SCRIPT = fileURLToPath(new URL("./websocket-clients.ts", import.meta.url));

interface ClientResult {
  deliveries: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  error?: string;
}

/** Run the rounds against `server` (listening on loopback), its clients speaking `protocol`. */
export async function roomsRow(server: Server, protocol: RoomsProtocol, quick: boolean): Promise<ExtraResult> {
  const rounds = quick ? 20 : 200;
  const child = fork(CLIENT_SCRIPT, { execArgv: ["--import", "tsx"], stdio: "inherit" });
  try {
    child.send({ port: (server.address() as AddressInfo).port, protocol, clients: CLIENTS, rooms: ROOMS, warmup: 10, rounds });
    let cpu = process.cpuUsage();
    const result = await new Promise<ClientResult>((resolve, reject) => {
      child.on("message", (m: ClientResult | { timing: "start" }) => {
        if ("timing" in m) cpu = process.cpuUsage();
        else resolve(m);
      });
      child.once("exit", (code) => reject(new Error(`${protocol} bench clients exited with ${code} before reporting`)));
    });
    const used = process.cpuUsage(cpu);
    if (result.error) throw new Error(`${protocol} bench clients failed: ${result.error}`);
    return {
      workload: "ws-rooms",
      n: result.deliveries,
      seconds: result.seconds,
      opsPerSec: result.deliveries / result.seconds,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      clients: CLIENTS,
      rooms: ROOMS,
      // The server's CPU time per delivery: what the machine's load moves least.
      serverCpuUs: +((used.user + used.system) / result.deliveries).toFixed(2),
      // Its user-mode part: the server's own code, without the kernel's socket write both servers pay alike.
      serverUserUs: +(used.user / result.deliveries).toFixed(2),
      roomMessagesPerSec: Math.round((rounds * ROOMS) / result.seconds),
    };
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

export function listen(server: Server): Promise<void> {
  return new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
}

export async function shut(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
