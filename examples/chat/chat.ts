/**
 * The chat example: one JsonWebSocketConsumer per browser tab, one group per
 * room. Everything between tabs goes through the channel layer, so the same
 * code chats across processes when the layer is shared (CHANNEL_LAYER_URL),
 * and each room's recent messages are the layer's group history: a page that
 * reconnects is caught up from its position (docs/recovery.md).
 */
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  JsonWebSocketConsumer,
  NoGroupHistoryError,
  serve,
  type ChannelLayer,
  type Message,
  type MessageValue,
  type WebSocketRoute,
  type WebSocketService,
} from "../../src/index.js";

const ROOM = /^[a-zA-Z0-9_-]{1,40}$/;
/**
 * What the chat's layer is made with: rooms announce who joins and leaves
 * (docs/presence.md) and keep their last 1000 messages for 10 minutes, from
 * which a page that reconnects is caught up (docs/recovery.md). On a broker
 * the history is the broker's option: `serve --group-history "chat.room.*=1000,600"`.
 */
export const CHAT_LAYER_OPTIONS = {
  groupPresence: { "chat.room.*": { events: true } },
  groupHistory: { "chat.room.*": { size: 1000, ttl: 600 } },
};
const MAX_TEXT = 2000;
/** Messages a page that joins (or could not be caught up) is shown. */
const LOAD = 50;

export class ChatConsumer extends JsonWebSocketConsumer {
  private group = "";
  private user = "";
  /** Whether the room's history catches this page up (false: the layer keeps none for it). */
  private resuming = false;

  override async connect(): Promise<void> {
    const room = this.scope.params.room ?? "";
    if (!ROOM.test(room)) return this.close(); // refused: HTTP 403
    this.user = (this.scope.query.get("name") ?? "").trim().slice(0, 32) || `guest-${Math.floor(Math.random() * 10000)}`;
    this.group = `chat.room.${room}`;
    this.accept();
    // Who is online: a presence entry where the layer keeps them, a plain membership otherwise.
    const presence = this.layer.presence ? { user: this.user } : undefined;
    try {
      // Join and catch up: what this page missed since its last message (it sends its position when it
      // reconnects), or the latest 50 when it is new here or that cannot be done.
      await this.groupResume(this.group, { presence, load: LOAD });
      this.resuming = true;
    } catch (err) {
      if (!(err instanceof NoGroupHistoryError)) throw err;
      // Joined, but the room keeps no history here (a broker started without --group-history): live messages only.
      this.warn(`${err.message}; the chat goes on without catching pages up`);
    }
    const welcome: Message = { type: "welcome", room, user: this.user };
    if (this.layer.presence) {
      // Who is online, one page of it (up to 1000 people): a demo's room, not a stadium.
      const { entries } = await this.layer.presence(this.group, { limit: 1000 });
      welcome.online = entries.map((e) => ({ channel: e.channel, info: e.info }));
    }
    this.sendJson(welcome);
    await this.layer.groupSend(this.group, { type: "chat.notice", text: `${this.user} joined` });
  }

  /** What it returns goes back to a page that sent with `sendWithAck`: the id its message got. */
  override async receiveJson(content: MessageValue): Promise<MessageValue | void> {
    const text = isObject(content) && content.type === "message" && typeof content.text === "string" ? content.text.trim() : "";
    if (text === "") return this.sendError("ERR_BAD_MESSAGE", 'send {"type": "message", "text": "..."} with some text');
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    await this.layer.groupSend(this.group, { type: "chat.message", id, user: this.user, text: text.slice(0, MAX_TEXT) });
    return { id };
  }

  chat_message(event: Message): void {
    this.sendJson({ type: "message", id: String(event.id), user: event.user as string, text: event.text as string });
  }

  presence_join(event: Message): void {
    this.sendJson({ type: "presence.join", channel: event.channel as string, info: event.info as MessageValue });
  }

  presence_leave(event: Message): void {
    this.sendJson({ type: "presence.leave", channel: event.channel as string });
  }

  /** The layer was away and may have lost messages: with history the page was told by its resume; without, say so here. */
  layer_gap(event: Message): void {
    if (!this.resuming) this.sendJson({ type: "notice", text: `messages may be missing (the channel layer was away: ${event.reason as string})` });
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
  // The package's browser client, as the page imports it: `channel-layers/browser` (dist/browser) when installed.
  "/channel-layers/browser.js": ["../../../src/browser/index.js", "text/javascript; charset=utf-8"],
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
  try {
    await websockets.ready; // a layer that cannot connect fails here, with its address, not at every handshake
  } catch (err) {
    await websockets.close();
    throw err;
  }
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
