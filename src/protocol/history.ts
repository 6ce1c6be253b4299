/**
 * Group history on the broker (docs/recovery.md): the position put into an
 * encoded body without decoding it, and the history read's wire form.
 */
import { POSITION_KEY } from "../options/history.js";
import type { HistoryPosition } from "../layer.js";
import { packr } from "../dependencies/msgpack.js";
import { OUTPUT_BUDGET } from "./limits.js";

const KEY = packr.pack(POSITION_KEY);

/**
 * `body` (a msgpack map) with one more entry, `__position__`, appended: the
 * map's header counts one more and the pair goes at the end. A sender's own
 * `__position__` stays before it, and decoders keep the last of equal keys.
 * A body that is not a map (a broken client's) is kept as it is.
 */
export function stampEncoded(body: Buffer, position: HistoryPosition): Buffer {
  const b = body[0];
  let n: number;
  let header: number;
  if (b === undefined) return body;
  if (b >= 0x80 && b <= 0x8f) [n, header] = [b & 0x0f, 1];
  else if (b === 0xde && body.length >= 3) [n, header] = [body.readUInt16BE(1), 3];
  else if (b === 0xdf && body.length >= 5) [n, header] = [body.readUInt32BE(1), 5];
  else return body;
  const count = n + 1;
  let head: Buffer;
  if (count <= 15) head = Buffer.from([0x80 | count]);
  else if (count <= 0xffff) head = Buffer.from([0xde, count >> 8, count & 0xff]);
  else {
    head = Buffer.alloc(5);
    head[0] = 0xdf;
    head.writeUInt32BE(count, 1);
  }
  return Buffer.concat([head, body.subarray(header), KEY, packr.pack({ epoch: position.epoch, offset: position.offset })]);
}

/** Most messages one history read returns; a larger `limit` is this. */
export const MAX_HISTORY_READ = 10_000;
/**
 * Most bytes of bodies one history read returns: what a client may be owed
 * unread (OUTPUT_BUDGET), or one frame if the broker allows larger ones. Past
 * it, as past `limit`: recovered: false, or a shorter tail.
 */
export function historyReplyBytes(maxFrameBytes: number): number {
  return Math.max(OUTPUT_BUDGET, maxFrameBytes);
}
