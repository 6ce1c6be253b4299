/**
 * JsonWebSocketConsumer: structured content in and out, like Channels'
 * JsonWebsocketConsumer. The route's `frames` picks the wire form: JSON text
 * frames or msgpack binary frames; handlers see the same values either way.
 */
import type { MessageValue } from "../layer.js";
import { reserveMethods } from "./consumer.js";
import { BadFrameError } from "./frames.js";
import { WebSocketConsumer } from "./websocket.js";

export class JsonWebSocketConsumer extends WebSocketConsumer {
  /** Content the client sent, decoded from the route's frame format. */
  receiveJson(_content: MessageValue): void | Promise<void> {}

  /** Send content in the route's frame format. */
  sendJson(content: MessageValue): void {
    this.send(this.codec.encode(content));
  }

  /** A frame that does not decode is answered with an error frame and goes no further. */
  override async receive(data: string | Buffer): Promise<void> {
    let content: MessageValue;
    try {
      content = this.codec.decode(data);
    } catch (err) {
      if (!(err instanceof BadFrameError)) throw err;
      this.sendError(err.code, err.message);
      return;
    }
    await this.receiveJson(content);
  }
}

reserveMethods(JsonWebSocketConsumer.prototype);
