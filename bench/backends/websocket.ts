/**
 * WebSocket rooms on our stack: serve() + JsonWebSocketConsumer on the
 * in-memory layer (the workload: rooms.ts).
 */
import { createServer } from "node:http";
import { InMemoryChannelLayer, JsonWebSocketConsumer, serve, type Message, type MessageValue } from "../../src/index.js";
import type { BenchBackend, ExtraResult } from "../types.js";
import { listen, roomsRow, shut } from "./rooms.js";

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
  const layer = new InMemoryChannelLayer();
  const server = createServer();
  const service = serve({ server, layer, routes: [{ path: "/bench/:room", consumer: BenchRoom }] });
  await listen(server);
  try {
    return await roomsRow(server, "ws", quick);
  } finally {
    await service.close();
    await shut(server);
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
