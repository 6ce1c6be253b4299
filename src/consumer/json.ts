/**
 * JsonWebSocketConsumer: structured content in and out, like Channels'
 * JsonWebsocketConsumer. The route's `frames` picks the wire form: JSON text
 * frames or msgpack binary frames; handlers see the same values either way.
 */
import type { MessageValue } from "../layer.js";
import { reserveMethods } from "./consumer.js";
import { ackErrorCode, ackRequest, type Ack } from "./acks.js";
import { BadFrameError } from "./frames.js";
import { WebSocketConsumer } from "./websocket.js";

export class JsonWebSocketConsumer extends WebSocketConsumer {
  /**
   * Content the client sent, decoded from the route's frame format. When the
   * client asked for an acknowledgement (`sendWithAck` in channel-layers/browser,
   * `sendJsonWithAck` in the communicator), `ack` is given: what the handler
   * returns, or passes to `ack()` first, goes back to the client (null for
   * nothing); a handler that throws answers with its error code. Without one,
   * what the handler returns is ignored.
   */
  receiveJson(_content: MessageValue, _ack?: Ack): void | MessageValue | Promise<void | MessageValue> {}

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
    const request = ackRequest(content);
    if (request === undefined) {
      await this.receiveJson(content);
      return;
    }
    if (typeof request === "string") {
      this.sendError("ERR_BAD_FRAME", request);
      return;
    }
    let answered = false;
    const ack: Ack = (reply) => {
      if (answered) return;
      answered = true;
      this.sendJson({ $ack: request.id, $reply: reply ?? null });
    };
    let result: void | MessageValue;
    try {
      result = await this.receiveJson(request.content, ack);
    } catch (err) {
      if (!answered) {
        answered = true;
        this.sendJson({ $ack: request.id, $error: ackErrorCode(err) });
      }
      throw err;
    }
    ack(result ?? null);
  }
}

reserveMethods(JsonWebSocketConsumer.prototype);
