/**
 * Protocol translation: how structured content travels in WebSocket frames,
 * chosen per route. "json" uses text frames holding JSON; "msgpack" uses
 * binary frames encoded with the package's one msgpack configuration.
 */
import type { MessageValue } from "../layer.js";
import { BadFrameError } from "../errors.js";
import { MAX_MESSAGE_DEPTH } from "../message.js";
import { packr } from "../dependencies/msgpack.js";

export type FrameFormat = "json" | "msgpack";

export { BadFrameError };

export interface FrameCodec {
  readonly format: FrameFormat;
  decode(data: string | Uint8Array): MessageValue;
  encode(content: MessageValue): string | Buffer;
}

const bigintAsString = (_key: string, value: unknown): unknown => (typeof value === "bigint" ? value.toString() : value);

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
    // Without a replacer JSON.stringify takes V8's fast path (a replacer is a call per value); only
    // content holding a bigint throws here, and takes the slow way that writes it as a string.
    try {
      return JSON.stringify(content);
    } catch {
      return JSON.stringify(content, bigintAsString);
    }
  },
};

const msgpack: FrameCodec = {
  format: "msgpack",
  decode(data) {
    if (typeof data === "string") throw new BadFrameError("this route speaks msgpack in binary frames; a text frame was received");
    let value: unknown;
    try {
      value = packr.unpack(data);
    } catch (err) {
      throw new BadFrameError(`a binary frame is not valid msgpack: ${(err as Error).message}`);
    }
    assertContent(value, 0);
    return value;
  },
  encode(content) {
    return packr.pack(content);
  },
};

/** Nesting a frame may have; deeper is refused before any handler walks it. */
const MAX_DEPTH = MAX_MESSAGE_DEPTH;

/**
 * msgpack can carry what a message cannot (extension types, timestamps as
 * Dates): refuse those at the door, as `send` would, rather than hand a
 * handler a value it cannot pass on.
 */
function assertContent(value: unknown, depth: number): asserts value is MessageValue {
  if (depth > MAX_DEPTH) throw new BadFrameError(`a binary frame nests deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return;
  if (value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    for (const item of value) assertContent(item, depth + 1);
    return;
  }
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) assertContent(item, depth + 1);
    return;
  }
  const kind = typeof value === "object" ? (value.constructor?.name ?? "object") : typeof value;
  throw new BadFrameError(`a binary frame holds a ${kind}, which a message cannot carry`);
}

export function frameCodec(format: FrameFormat = "json"): FrameCodec {
  if (format === "json") return json;
  if (format === "msgpack") return msgpack;
  throw new TypeError(`unknown frame format ${JSON.stringify(format)}; known: "json", "msgpack"`);
}
