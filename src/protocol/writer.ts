/**
 * msgpack written by hand, for the two things the broker protocol encodes on
 * every message: the batches of protocol frames, and the message bodies
 * (already validated and copied by copyMessage, so made only of plain
 * objects, arrays, strings, numbers, bigints, booleans, null and bytes).
 * Written straight into a slab (below) they cost a fraction of msgpackr's
 * general encoder (measured on the `concurrent` bench: 0.20 -> 0.13 µs per
 * send frame, 0.13 -> 0.06 µs per answer; msgpackr's setup alone is most of
 * the cost of a small message). The bytes are the ones msgpackr writes with
 * the shared options (the tests compare them); anything else (undefined,
 * class instances) is packed by msgpackr and copied in.
 */
import type { Message } from "../layer.js";
import { packr } from "../dependencies/msgpack.js";

/** Bytes of a stream frame's header: the 4-byte length and an array32 header. */
const HEADER = 9;
const INT64_MIN = -(2n ** 63n);
const INT64_END = 2n ** 63n;

/** Room a new output needs in the slab; otherwise a new slab is begun. */
const SLAB_BYTES = 64 * 1024;

/**
 * Outputs are written into a slab, one after another, and handed out as
 * views of it: no copy, and no allocation per output (a view given out is
 * never written again; a full slab is left to the views still using it).
 */
export class MsgpackWriter {
  private buf = Buffer.allocUnsafe(SLAB_BYTES);
  /** Where the output being written began. */
  private start = 0;
  private pos = 0;

  /**
   * The stream frames for `frames`: [length][array32 of frames] each, a new
   * one begun before a frame that would take the current one past
   * `splitBytes` (so a stream frame is never much bigger than its largest
   * frame). Returns a buffer of its own, for the socket to keep.
   */
  frames(frames: readonly unknown[], splitBytes: number): Buffer {
    this.begin();
    // Offsets from the output's start: a slab change moves the output.
    let open = this.open();
    let count = 0;
    for (let i = 0; i < frames.length; i++) {
      const frameStart = this.pos - this.start;
      this.value(frames[i]);
      if (count > 0 && this.pos - this.start - open > splitBytes) {
        // Close the stream frame before this frame, and move the frame into a new one.
        const frameEnd = this.pos;
        this.close(open, frameStart, count);
        this.ensure(HEADER);
        const from = this.start + frameStart;
        this.buf.copyWithin(from + HEADER, from, frameEnd);
        this.buf[from + 4] = 0xdd;
        this.pos = frameEnd + HEADER;
        open = frameStart;
        count = 0;
      }
      count++;
    }
    this.close(open, this.pos - this.start, count);
    return this.end();
  }

  /** A message, as msgpackr would encode it. */
  message(message: Message): Buffer {
    this.begin();
    this.value(message);
    return this.end();
  }

  private begin(): void {
    if (this.buf.length - this.pos < SLAB_BYTES / 8) {
      this.buf = Buffer.allocUnsafe(SLAB_BYTES);
      this.pos = 0;
    }
    this.start = this.pos;
  }

  private end(): Buffer {
    const out = this.buf.subarray(this.start, this.pos);
    this.pos = (this.pos + 7) & ~7; // the next output starts word-aligned
    return out;
  }

  /** Begin a stream frame; returns its offset in the output. */
  private open(): number {
    this.ensure(HEADER);
    const at = this.pos - this.start;
    this.buf[this.pos + 4] = 0xdd;
    this.pos += HEADER;
    return at;
  }

  /** Write the length and count of the stream frame at offset `at`, which ends at offset `end`. */
  private close(at: number, end: number, count: number): void {
    this.buf.writeUInt32BE(end - at - 4, this.start + at);
    this.buf.writeUInt32BE(count, this.start + at + 5);
  }

  /** Room for `bytes` more; else the output so far moves to a new slab big enough. */
  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const written = this.pos - this.start;
    const slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * (written + bytes)));
    this.buf.copy(slab, 0, this.start, this.pos);
    this.buf = slab;
    this.start = 0;
    this.pos = written;
  }

  private value(v: unknown): void {
    switch (typeof v) {
      case "number":
        return this.number(v);
      case "string":
        return this.string(v);
      case "boolean":
        return this.byte(v ? 0xc3 : 0xc2);
      case "bigint":
        if (v >= INT64_MIN && v < INT64_END) {
          this.ensure(9);
          this.buf[this.pos++] = 0xd3;
          this.buf.writeBigInt64BE(v, this.pos);
          this.pos += 8;
          return;
        }
        break;
      case "object":
        if (v === null) return this.byte(0xc0);
        if (v instanceof Uint8Array) return this.bytes(v);
        if (Array.isArray(v)) {
          this.ensure(5);
          this.length(v.length, 0x90, 0xdc, 0xdd);
          for (let i = 0; i < v.length; i++) this.value(v[i]);
          return;
        }
        if (v.constructor === Object) return this.map(v as Record<string, unknown>);
    }
    const packed = packr.pack(v);
    this.ensure(packed.length);
    this.buf.set(packed, this.pos);
    this.pos += packed.length;
  }

  private map(o: Record<string, unknown>): void {
    const keys = Object.keys(o);
    this.ensure(5);
    this.length(keys.length, 0x80, 0xde, 0xdf);
    for (let i = 0; i < keys.length; i++) {
      this.string(keys[i]!);
      this.value(o[keys[i]!]);
    }
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  private number(n: number): void {
    this.ensure(9);
    const buf = this.buf;
    if (n >>> 0 === n) {
      if (n < 0x80) buf[this.pos++] = n;
      else if (n < 0x100) {
        buf[this.pos++] = 0xcc;
        buf[this.pos++] = n;
      } else this.wide(n, 0xcd, 0xce);
    } else if (n >> 0 === n) {
      if (n >= -0x20) buf[this.pos++] = n & 0xff;
      else if (n >= -0x80) {
        buf[this.pos++] = 0xd0;
        buf[this.pos++] = n & 0xff;
      } else if (n >= -0x8000) {
        buf[this.pos++] = 0xd1;
        buf.writeInt16BE(n, this.pos);
        this.pos += 2;
      } else {
        buf[this.pos++] = 0xd2;
        buf.writeInt32BE(n, this.pos);
        this.pos += 4;
      }
    } else {
      // Deadlines, fractions and integers past 32 bits (copyMessage made those of a message bigints).
      buf[this.pos++] = 0xcb;
      buf.writeDoubleBE(n, this.pos);
      this.pos += 8;
    }
  }

  private string(s: string): void {
    const n = s.length;
    // Names, codes, ids and most text are ASCII: a byte per character, after a header sized by the length.
    this.ensure(5 + n);
    const buf = this.buf;
    const at = this.pos;
    this.strHeader(n);
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        // Not ASCII: start again with the UTF-8 length.
        this.pos = at;
        const bytes = Buffer.byteLength(s);
        this.ensure(5 + bytes);
        this.strHeader(bytes);
        this.pos += this.buf.write(s, this.pos, "utf8");
        return;
      }
      buf[p++] = c;
    }
    this.pos = p;
  }

  private bytes(b: Uint8Array): void {
    const n = b.length;
    this.ensure(5 + n);
    if (n < 0x100) {
      this.buf[this.pos++] = 0xc4;
      this.buf[this.pos++] = n;
    } else {
      this.wide(n, 0xc5, 0xc6);
    }
    this.buf.set(b, this.pos);
    this.pos += n;
  }

  private strHeader(n: number): void {
    if (n < 32) {
      this.buf[this.pos++] = 0xa0 | n;
    } else if (n < 0x100) {
      this.buf[this.pos++] = 0xd9;
      this.buf[this.pos++] = n;
    } else {
      this.wide(n, 0xda, 0xdb);
    }
  }

  /** An array or map header: the fix form (`fix` | n) under 16, else the 16-bit or 32-bit form. */
  private length(n: number, fix: number, type16: number, type32: number): void {
    if (n < 16) this.buf[this.pos++] = fix | n;
    else this.wide(n, type16, type32);
  }

  /** A 16-bit or 32-bit unsigned value after its type byte. */
  private wide(n: number, type16: number, type32: number): void {
    const buf = this.buf;
    if (n < 0x10000) {
      buf[this.pos++] = type16;
      buf.writeUInt16BE(n, this.pos);
      this.pos += 2;
    } else {
      buf[this.pos++] = type32;
      buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
  }
}

/** One writer for the process: every use is synchronous and returns a buffer of its own. */
export const writer = new MsgpackWriter();
