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
/** What the chat's layer is made with: rooms announce who joins and leaves (docs/presence.md). */
export const CHAT_LAYER_OPTIONS = { groupPresence: { "chat.room.*": { events: true } } };
const MAX_TEXT = 2000;
/** Messages of a room this server keeps, for pages that join or come back. */
const HISTORY = 50;
/** Rooms with history; the oldest is forgotten past this many (a demo bound, not a database). */
const MAX_ROOMS = 1000;

interface Said {
  id: string;
  user: string;
  text: string;
}

/**
 * The last messages of each room this server has seen, in the order they
 * arrived. Every consumer of a room in this process gets each message, so
 * the first to see one records it and the rest find its id.
 */
class History {
  private readonly rooms = new Map<string, Said[]>();

  add(room: string, said: Said): void {
    let list = this.rooms.get(room);
    if (list === undefined) {
      if (this.rooms.size >= MAX_ROOMS) this.rooms.delete(this.rooms.keys().next().value!);
      this.rooms.set(room, (list = []));
    }
    if (list.some((m) => m.id === said.id)) return;
    list.push(said);
    if (list.length > HISTORY) list.shift();
  }

  of(room: string): Said[] {
    return this.rooms.get(room) ?? [];
  }
}

export class ChatConsumer extends JsonWebSocketConsumer {
  /** Set by startChatServer: the history of the server this consumer runs in. */
  static history = new History();
  private group = "";
  private room = "";
  private user = "";

  override async connect(): Promise<void> {
    const room = this.scope.params.room ?? "";
    if (!ROOM.test(room)) return this.close(); // refused: HTTP 403
    this.user = (this.scope.query.get("name") ?? "").trim().slice(0, 32) || `guest-${Math.floor(Math.random() * 10000)}`;
    this.group = `chat.room.${room}`;
    this.room = room;
    this.accept();
    // Who is online: a presence entry where the layer keeps them (not on Redis yet), a plain membership otherwise.
    if (this.layer.presence) await this.join(this.group, { user: this.user });
    else await this.groupAdd(this.group);
    const welcome: Message = { type: "welcome", room, user: this.user, history: this.history() };
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
    // The page asks again after it reconnected, or after the server told it the layer had a gap.
    if (isObject(content) && content.type === "history") return this.sendJson({ type: "history", messages: this.history() });
    const text = isObject(content) && content.type === "message" && typeof content.text === "string" ? content.text.trim() : "";
    if (text === "") return this.sendError("ERR_BAD_MESSAGE", 'send {"type": "message", "text": "..."} with some text');
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    await this.layer.groupSend(this.group, { type: "chat.message", id, user: this.user, text: text.slice(0, MAX_TEXT) });
    return { id };
  }

  chat_message(event: Message): void {
    const said = { id: String(event.id), user: event.user as string, text: event.text as string };
    ChatConsumer.history.add(this.room, said);
    this.sendJson({ type: "message", ...said });
  }

  /** The channel layer was away and may have lost messages (a broker or Redis restart): tell the page, which reloads. */
  layer_gap(event: Message): void {
    this.sendJson({ type: "resync", reason: event.reason as string });
  }

  private history(): MessageValue {
    return ChatConsumer.history.of(this.room).map((m) => ({ ...m }));
  }

  presence_join(event: Message): void {
    this.sendJson({ type: "presence.join", channel: event.channel as string, info: event.info as MessageValue });
  }

  presence_leave(event: Message): void {
    this.sendJson({ type: "presence.leave", channel: event.channel as string });
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
