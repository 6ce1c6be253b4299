/**
 * Acknowledgements (Socket.IO's `emitWithAck`): a client frame may ask for an
 * answer. The envelope is the same in JSON and msgpack routes:
 *
 *   client → server  { "$ack": id, "$content": content }
 *   server → client  { "$ack": id, "$reply": value }      what the handler returned, or gave to ack()
 *                    { "$ack": id, "$error": code }       the handler threw (its code, never its message)
 *
 * `id` is the client's: a non-negative integer below 2^31, echoed back as it came.
 */
import type { MessageValue } from "../layer.js";

/** Answers one acknowledged frame; the first call wins, later ones do nothing. */
export type Ack = (reply?: MessageValue) => void;

export interface AckRequest {
  id: number;
  content: MessageValue;
}

const MAX_ID = 2 ** 31 - 1;

/**
 * The ack request `content` holds; undefined for plain content; a string
 * saying what is wrong for an envelope that is not one (answered with an error frame).
 */
export function ackRequest(content: MessageValue): AckRequest | string | undefined {
  if (typeof content !== "object" || content === null || Array.isArray(content) || content instanceof Uint8Array) return undefined;
  if (!("$ack" in content)) return undefined;
  const id = content.$ack;
  if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > MAX_ID) return `"$ack" must be an integer from 0 to ${MAX_ID}`;
  if (!("$content" in content)) return 'an ack request carries its content under "$content"';
  return { id, content: content.$content! };
}

/** The code an ack error carries: the error's own string `code`, else ERR_HANDLER. */
export function ackErrorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.length <= 64 ? code : "ERR_HANDLER";
}
