/**
 * Which Redis server (shard) holds a key, exactly as channels_redis picks it:
 * `crc32(utf8(name)) & 0xFFF`, divided by `4096 / n` in floating point (integer
 * arithmetic differs for some n, and then Django and Node would disagree).
 */
import zlib from "node:zlib";

const crc32: (data: string | Uint8Array) => number =
  (zlib as { crc32?: (data: string | Uint8Array) => number }).crc32 ?? crc32Table;

/** Shard index in [0, ringSize) for `name`. */
export function consistentHash(name: string, ringSize: number): number {
  if (ringSize === 1) return 0;
  const bucket = (crc32(Buffer.from(name, "utf8")) >>> 0) & 0xfff;
  return Math.floor(bucket / (4096 / ringSize));
}

let table: Int32Array | undefined;

/** CRC-32 (IEEE) for Node releases before zlib.crc32 (added in 20.15). */
function crc32Table(data: string | Uint8Array): number {
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let crc = -1;
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** Exposed for the golden-vector test of the fallback. */
export const crc32ForTest = { zlib: crc32, table: crc32Table };
