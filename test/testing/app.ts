/** A small app with a consumer for each rule `serve()` keeps, run the same way over both transports. */
import { JsonWebSocketConsumer, WebSocketConsumer, type Message, type MessageValue, type WebSocketInit, type WebSocketRoute } from "../../src/index.js";
import { live } from "./peers.js";

/** What the consumers saw on the server's side, in order. */
export const seen: string[] = [];

function counted(consumer: { done: Promise<void> }): void {
  live.count++;
  void consumer.done.then(() => live.count--);
}

/** Echoes content with what it knows of its connection. */
export class Echo extends JsonWebSocketConsumer {
  constructor(init: WebSocketInit) {
    super(init);
    counted(this);
  }
  override receiveJson(content: MessageValue): void {
    if (typeof content === "object" && content !== null && "close" in content) {
      this.close(Number(content.close), "bye");
      return;
    }
    if (typeof content === "object" && content !== null && "fail" in content) throw new Error("the handler failed");
    this.sendJson({
      echo: content,
      params: this.scope.params,
      query: Object.fromEntries(this.scope.query),
      origin: this.scope.headers.origin ?? null,
      header: this.scope.headers["x-test"] ?? null,
    });
  }
  override disconnect(code: number): void {
    seen.push(`${this.scope.path} disconnect ${code}`);
  }
}

/** A chat room: what one member sends, every member gets. */
export class Room extends JsonWebSocketConsumer {
  constructor(init: WebSocketInit) {
    super(init);
    counted(this);
    this.groups = [`room-${this.scope.params.room}`];
  }
  override async receiveJson(content: MessageValue): Promise<void> {
    await this.layer.groupSend(this.groups[0]!, { type: "chat.message", content });
  }
  chat_message(message: Message): void {
    this.sendJson(message.content as MessageValue);
  }
}

/** Refuses every connection. */
export class Refuser extends WebSocketConsumer {
  constructor(init: WebSocketInit) {
    super(init);
    counted(this);
  }
  override connect(): void {
    this.close();
  }
  override disconnect(code: number): void {
    seen.push(`refused disconnect ${code}`);
  }
}

/** Chooses the subprotocol "b" when offered, and echoes binary frames reversed. */
export class Proto extends WebSocketConsumer {
  constructor(init: WebSocketInit) {
    super(init);
    counted(this);
  }
  override connect(): void {
    this.accept(this.scope.subprotocols.includes("b") ? "b" : undefined);
  }
  override receive(data: string | Buffer): void {
    this.send(typeof data === "string" ? `text:${data}` : Buffer.from(data).reverse());
  }
}

export const routes: WebSocketRoute[] = [
  { path: "/echo/:name", consumer: Echo },
  { path: "/mp/:name", consumer: Echo, frames: "msgpack" },
  { path: "/strict/:name", consumer: Echo, handlerErrors: "close" },
  { path: "/limited", consumer: Echo, throttle: { connection: { rate: "1/m", burst: 2 } } },
  { path: "/limited-close", consumer: Echo, throttle: { connection: { rate: "1/m", burst: 1 }, onLimit: "close" } },
  { path: "/room/:room", consumer: Room },
  { path: "/refuse", consumer: Refuser },
  { path: "/proto", consumer: Proto },
];
