/**
 * The chat example: one JsonWebSocketConsumer per browser tab, one group per
 * room. Everything between tabs goes through the channel layer, so the same
 * code chats across processes when the layer is shared (CHANNEL_LAYER_URL).
 */
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  JsonWebSocketConsumer,
  serve,
  type ChannelLayer,
  type Message,
  type MessageValue,
  type WebSocketRoute,
  type WebSocketService,
} from "../../src/index.js";

const ROOM = /^[a-zA-Z0-9_-]{1,40}$/;
const MAX_TEXT = 2000;

export class ChatConsumer extends JsonWebSocketConsumer {
  private group = "";
  private user = "";

  override async connect(): Promise<void> {
    const room = this.scope.params.room ?? "";
    if (!ROOM.test(room)) return this.close(); // refused: HTTP 403
    this.user = (this.scope.query.get("name") ?? "").trim().slice(0, 32) || `guest-${Math.floor(Math.random() * 10000)}`;
    this.group = `chat.room.${room}`;
    this.accept();
    await this.groupAdd(this.group);
    this.sendJson({ type: "welcome", room, user: this.user });
    await this.layer.groupSend(this.group, { type: "chat.notice", text: `${this.user} joined` });
  }

  override async receiveJson(content: MessageValue): Promise<void> {
    const text = isObject(content) && content.type === "message" && typeof content.text === "string" ? content.text.trim() : "";
    if (text === "") return this.sendError("ERR_BAD_MESSAGE", 'send {"type": "message", "text": "..."} with some text');
    await this.layer.groupSend(this.group, { type: "chat.message", user: this.user, text: text.slice(0, MAX_TEXT) });
  }

  chat_message(event: Message): void {
    this.sendJson({ type: "message", user: event.user as string, text: event.text as string });
  }

  chat_notice(event: Message): void {
    this.sendJson({ type: "notice", text: event.text as string });
  }

  override async disconnect(): Promise<void> {
    if (this.group === "") return;
    // Leave first, so the notice goes only to those who stay.
    await this.groupDiscard(this.group);
    await this.layer.groupSend(this.group, { type: "chat.notice", text: `${this.user} left` });
  }
}

function isObject(v: MessageValue): v is { [key: string]: MessageValue } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** The chat's WebSocket routes, for `serve()` and for tests. */
export const chatRoutes: WebSocketRoute[] = [{ path: "/ws/chat/:room", consumer: ChatConsumer, throttle: { connection: { rate: "5/s", burst: 10 } } }];

const PUBLIC = new URL("./public/", import.meta.url);
const FILES: Record<string, [file: string, contentType: string]> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
};

export interface ChatServer {
  url: string;
  server: Server;
  websockets: WebSocketService;
  close(): Promise<void>;
}

/** Start the chat on `port` (0: any free port). The caller owns `layer` and closes it. */
export async function startChatServer(options: { layer: ChannelLayer; port?: number; host?: string }): Promise<ChatServer> {
  const server = createServer((req, res) => {
    const entry = FILES[new URL(req.url ?? "/", "http://x").pathname];
    if (req.method !== "GET" || entry === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    readFile(new URL(entry[0], PUBLIC)).then(
      (body) => res.writeHead(200, { "content-type": entry[1], "cache-control": "no-cache" }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  const websockets = serve({
    server,
    layer: options.layer,
    routes: chatRoutes,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? "localhost"}:${port}/`,
    server,
    websockets,
    async close() {
      await websockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
