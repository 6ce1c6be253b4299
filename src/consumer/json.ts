/**
 * JsonWebSocketConsumer: structured content in and out, like Channels'
 * JsonWebsocketConsumer. The route's `frames` picks the wire form: JSON text
 * frames or msgpack binary frames; handlers see the same values either way.
 */
import type { HistoryPosition, MessageValue } from "../layer.js";
import { reserveMethods } from "./consumer.js";
import { ackErrorCode, ackRequest, type Ack } from "./acks.js";
import { BadFrameError } from "./frames.js";
import { parseResumeHints, RESUME_PARAM } from "./resume-hints.js";
import type { GroupResumed, GroupResumeOptions } from "./resumed-groups.js";
import { WebSocketConsumer, type WebSocketInit } from "./websocket.js";

export class JsonWebSocketConsumer extends WebSocketConsumer {
  /**
   * The positions the client says it has seen, by group, taken once each by
   * `groupResume`; undefined when the client sent none (it then gets no
   * positions in its frames either: an older or plain client sees no change).
   */
  #hints: Map<string, HistoryPosition> | undefined;

  constructor(init: WebSocketInit) {
    super(init);
    const hint = init.scope.query.get(RESUME_PARAM);
    if (hint === null) return;
    const hints = parseResumeHints(hint);
    if (typeof hints === "string") this.warn(`ignored the client's ${RESUME_PARAM} positions: ${hints}`);
    this.#hints = typeof hints === "string" ? new Map() : hints;
  }

  /** As Consumer's, resuming from the position the client sent for `group` unless `since` is given. */
  override groupResume(group: string, options: GroupResumeOptions = {}): Promise<GroupResumed | undefined> {
    const hint = this.#hints?.get(group);
    this.#hints?.delete(group);
    return super.groupResume(group, "since" in options ? options : { ...options, since: hint });
  }

  /** A client that sent positions is told each resume: `{ "$resume": group, "recovered": bool, "position": [epoch, offset] }`. */
  protected override resumed(result: GroupResumed): void {
    if (this.#hints === undefined) return;
    const { epoch, offset } = result.position;
    this.send(this.codec.encode({ $resume: result.group, recovered: result.recovered, position: [epoch, offset] }));
  }

  /**
   * Content the client sent, decoded from the route's frame format. When the
   * client asked for an acknowledgement (`sendWithAck` in channel-layers/browser,
   * `sendJsonWithAck` in the communicator), `ack` is given: what the handler
   * returns, or passes to `ack()` first, goes back to the client (null for
   * nothing); a handler that throws answers with its error code. Without one,
   * what the handler returns is ignored.
   */
  receiveJson(_content: MessageValue, _ack?: Ack): void | MessageValue | Promise<void | MessageValue> {}

  /**
   * Send content in the route's frame format. While a resumed group's message
   * is handled, a client that sent positions gets it as
   * `{ "$group": group, "$position": [epoch, offset], "$content": content }`,
   * so that it knows where to resume from.
   */
  sendJson(content: MessageValue): void {
    const at = this.#hints === undefined ? undefined : this.groupPosition;
    if (at === undefined) return this.send(this.codec.encode(content));
    this.send(this.codec.encode({ $group: at.group, $position: [at.position.epoch, at.position.offset], $content: content }));
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
