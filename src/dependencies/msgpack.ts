/**
 * The one msgpack configuration every encoding backend uses: plain maps (no
 * msgpackr records), so Python's msgpack reads our bytes and we read its;
 * int64 decodes to a number when safe and to a bigint otherwise.
 */
import { Packr, Unpackr } from "msgpackr";
import type { Message } from "../layer.js";

const OPTIONS = {
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  // "auto" is supported at run time but missing from msgpackr's types.
  int64AsType: "auto" as "number",
};

export const packr = new Packr(OPTIONS);

export function encodeMessage(message: Message): Buffer {
  return packr.pack(message);
}

export function decodeMessage(bytes: Uint8Array): Message {
  return packr.unpack(bytes) as Message;
}

/**
 * A decoded body as the message it must be: a plain map with a string
 * `type`. A peer may send any bytes (the broker and Redis never look
 * inside), so a receiver checks, the top level only (a deeper check would
 * walk every message received); throws a TypeError naming what came instead.
 */
export function asMessage(value: unknown): Message {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array || Object.getPrototypeOf(value) !== Object.prototype) {
    const kind =
      value === null ? "null"
      : Array.isArray(value) ? "an array"
      : value instanceof Uint8Array ? "bytes"
      : typeof value === "object" ? `a ${(value.constructor as { name?: string } | undefined)?.name ?? "foreign object"}` // a Date, msgpackr's C1Type for 0xC1
      : typeof value;
    throw new TypeError(`it decoded to ${kind}, not a message (a map)`);
  }
  if (typeof (value as Message).type !== "string") throw new TypeError('it decoded to a map without a string "type", not a message');
  return value as Message;
}

/** Reads copies of bodies (below): bins must not be views into the reused buffer. */
const copying = new Unpackr({ ...OPTIONS, copyBuffers: true });
const scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * `decodeMessage` for a body that is a small view into a larger buffer (one
 * taken from a socket chunk). msgpackr makes and caches a DataView on every
 * buffer it reads, which for a fresh view cost about as much as decoding the
 * message, so the body is copied into one reused buffer first. Bins in the
 * message come back as buffers of their own, not views into anything.
 */
export function decodeMessageView(bytes: Uint8Array): Message {
  if (bytes.length > scratch.length) return copying.unpack(bytes) as Message;
  scratch.set(bytes);
  return copying.unpack(scratch, bytes.length) as Message;
}
