/**
 * The rival on ws-rooms: Socket.IO 4.8 with its default in-memory adapter,
 * websocket transport only (no long-polling upgrade), doing what BenchRoom
 * does: join the room named in the handshake, say "ready", and broadcast
 * every "say" to the whole room, sender included.
 */
import { createServer } from "node:http";
import type { BenchBackend, ExtraResult } from "../types.js";
import { listen, roomsRow, shut } from "./rooms.js";

async function rooms(quick: boolean): Promise<ExtraResult> {
  const { Server } = await import("socket.io");
  const server = createServer();
  const io = new Server(server, { transports: ["websocket"], serveClient: false });
  io.on("connection", (socket) => {
    const room = `bench.room.${String(socket.handshake.query.room)}`;
    void socket.join(room);
    socket.on("say", (content: unknown) => io.to(room).emit("say", content));
    socket.emit("ready");
  });
  await listen(server);
  try {
    return await roomsRow(server, "socketio", quick);
  } finally {
    await io.close();
    await shut(server).catch(() => {}); // io.close() closes the server too
  }
}

export const socketio: BenchBackend = {
  name: "socketio",
  available: async () => {
    try {
      await import("socket.io");
      return true;
    } catch {
      return "socket.io is not installed (a dev dependency: npm install)";
    }
  },
  workloads: [],
  run: () => Promise.reject(new Error("the socketio backend has only extra rows")),
  extras: async (quick) => [await rooms(quick)],
};
