/**
 * A body a backend handed over that is no message: bytes that do not decode
 * (garbage, a wrong key), or decode to something else than a map with a
 * string `type` (a Date, msgpack's 0xC1, an array). On every backend the
 * receive that takes it fails with InvalidMessageError and the layer goes on
 * (a Consumer reports it and takes the next): it is kept where the message
 * would have been, so order and capacity stay as they were.
 */
import { InvalidMessageError } from "../errors.js";
import { RESERVED_KEY } from "../message.js";

export class NotAMessage {
  constructor(
    /** Why, in words: "it decoded to a Date, not a message (a map)". */
    readonly reason: string,
    /** The process-local channel(s) it names, when it decoded to a map that names them. */
    readonly addressee?: unknown,
  ) {}

  /** The error its receive rejects with (the broker client's words too: src/protocol/receives.ts). */
  error(): InvalidMessageError {
    return new InvalidMessageError(`a body received was not a message and is dropped: ${this.reason}`);
  }
}

/** The `__asgi_channel__` of a decoded value that is a map, else undefined. */
export function addresseeOf(value: unknown): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[RESERVED_KEY] : undefined;
}
