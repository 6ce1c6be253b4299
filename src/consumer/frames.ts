/**
 * Protocol translation: how structured content travels in WebSocket frames,
 * chosen per route. "json" uses text frames holding JSON; "msgpack" uses
 * binary frames encoded with the package's one msgpack configuration.
 */
import type { MessageValue } from "../layer.js";
import { packr } from "../msgpack.js";

export type FrameFormat = "json" | "msgpack";

/** A frame that does not hold what its route expects. */
export class BadFrameError extends Error {
  readonly code = "ERR_BAD_FRAME" as const;
  constructor(message: string) {
    super(message);
    this.name = "BadFrameError";
  }
}

export interface FrameCodec {
  readonly format: FrameFormat;
  decode(data: string | Uint8Array): MessageValue;
  encode(content: MessageValue): string | Buffer;
}

const json: FrameCodec = {
  format: "json",
  decode(data) {
    if (typeof data !== "string") throw new BadFrameError("this route speaks JSON in text frames; a binary frame was received");
    try {
      return JSON.parse(data) as MessageValue;
    } catch (err) {
      throw new BadFrameError(`a text frame is not valid JSON: ${(err as Error).message}`);
    }
  },
  encode(content) {
    return JSON.stringify(content, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value));
  },
};

const msgpack: FrameCodec = {
  format: "msgpack",
  decode(data) {
    if (typeof data === "string") throw new BadFrameError("this route speaks msgpack in binary frames; a text frame was received");
    try {
      return packr.unpack(data) as MessageValue;
    } catch (err) {
      throw new BadFrameError(`a binary frame is not valid msgpack: ${(err as Error).message}`);
    }
  },
  encode(content) {
    return packr.pack(content);
  },
};

export function frameCodec(format: FrameFormat = "json"): FrameCodec {
  if (format === "json") return json;
  if (format === "msgpack") return msgpack;
  throw new TypeError(`unknown frame format ${JSON.stringify(format)}; known: "json", "msgpack"`);
}
