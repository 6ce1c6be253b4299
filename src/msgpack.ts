/**
 * The one msgpack configuration every encoding backend uses: plain maps (no
 * msgpackr records), so Python's msgpack reads our bytes and we read its;
 * int64 decodes to a number when safe and to a bigint otherwise.
 */
import { Packr } from "msgpackr";
import type { Message } from "./layer.js";

export const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  // "auto" is supported at run time but missing from msgpackr's types.
  int64AsType: "auto" as "number",
});

export function encodeMessage(message: Message): Buffer {
  return packr.pack(message);
}

export function decodeMessage(bytes: Uint8Array): Message {
  return packr.unpack(bytes) as Message;
}
