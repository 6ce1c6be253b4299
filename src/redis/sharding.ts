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

/** Redis Cluster's hash slots. */
export const CLUSTER_SLOTS = 16384;

/** CRC16-XMODEM, the checksum Redis Cluster hashes keys with. */
function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text, "utf8")) {
    crc ^= byte << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of a key with no `{…}` in it (a hash tag's text is hashed this way). */
export function clusterSlot(text: string): number {
  return crc16(text) % CLUSTER_SLOTS;
}

/** The slot of any key, as Redis Cluster computes it: the text of its first non-empty `{…}` if any, else the whole key. */
export function keySlot(key: string): number {
  const open = key.indexOf("{");
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) return clusterSlot(key.slice(open + 1, close));
  }
  return clusterSlot(key);
}

/**
 * The hash tags of a ring of `n` virtual shards over a Redis Cluster:
 * `{k}` with the smallest k whose slot falls in the shard's `1/n` of the slot
 * space, so the ring spreads evenly over masters that split the slots
 * evenly (as `redis-cli --cluster create` does), and every process computes
 * the same tags.
 */
export function clusterTags(n: number): string[] {
  const tags: string[] = [];
  for (let i = 0, k = 0; i < n; i++) {
    const low = Math.floor((i * CLUSTER_SLOTS) / n);
    const high = Math.floor(((i + 1) * CLUSTER_SLOTS) / n);
    for (; ; k++) {
      const slot = clusterSlot(String(k));
      if (slot >= low && slot < high) break;
    }
    tags.push(`{${k}}`);
    k = 0;
  }
  return tags;
}
