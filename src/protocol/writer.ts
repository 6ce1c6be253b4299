/**
 * Writes batches of protocol frames as msgpack, by hand. Frames are short
 * arrays of integers, deadlines, names and message bodies: written straight
 * into one buffer they cost less than msgpackr's general encoder takes for
 * them (measured on the `concurrent` bench's frames: 0.20 -> 0.13 µs per
 * send frame, 0.13 -> 0.06 µs per answer). Anything
 * else (hello info, stats, undefined, bigints) is packed by msgpackr and
 * copied in, so the output is plain msgpack whatever a frame holds.
 */
import { packr } from "../msgpack.js";

/** Bytes of a stream frame's header: the 4-byte length and an array32 header. */
const HEADER = 9;

export class FrameWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private pos = 0;

  /**
   * The stream frames for `frames`: [length][array32 of frames] each, a new
   * one begun before a frame that would take the current one past
   * `splitBytes` (so a stream frame is never much bigger than its largest
   * frame). Returns a buffer of its own, for the socket to keep.
   */
  encode(frames: readonly unknown[], splitBytes: number): Buffer {
    this.pos = 0;
    let start = this.open();
    let count = 0;
    for (let i = 0; i < frames.length; i++) {
      const frameStart = this.pos;
      this.value(frames[i]);
      if (count > 0 && this.pos - start > splitBytes) {
        // Close the stream frame before this frame, and move the frame into a new one.
        const frameEnd = this.pos;
        this.close(start, frameStart, count);
        this.ensure(HEADER);
        this.buf.copyWithin(frameStart + HEADER, frameStart, frameEnd);
        start = frameStart;
        this.buf[start + 4] = 0xdd;
        this.pos = frameEnd + HEADER;
        count = 0;
      }
      count++;
    }
    this.close(start, this.pos, count);
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private open(): number {
    this.ensure(HEADER);
    const start = this.pos;
    this.buf[start + 4] = 0xdd;
    this.pos += HEADER;
    return start;
  }

  private close(start: number, end: number, count: number): void {
    this.buf.writeUInt32BE(end - start - 4, start);
    this.buf.writeUInt32BE(count, start + 5);
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  private value(v: unknown): void {
    if (typeof v === "number") return this.number(v);
    if (typeof v === "string") return this.string(v);
    if (v instanceof Uint8Array) return this.bytes(v);
    if (Array.isArray(v)) {
      this.ensure(5);
      this.arrayHeader(v.length);
      for (let i = 0; i < v.length; i++) this.value(v[i]);
      return;
    }
    if (v === null) return this.byte(0xc0);
    if (typeof v === "boolean") return this.byte(v ? 0xc3 : 0xc2);
    const packed = packr.pack(v);
    this.ensure(packed.length);
    this.buf.set(packed, this.pos);
    this.pos += packed.length;
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
      } else this.long(n, 0xcd, 0xce);
    } else if (n >> 0 === n && n >= -32) {
      buf[this.pos++] = n & 0xff;
    } else {
      // Deadlines, other negatives and anything past 32 bits: float64 holds every safe integer exactly.
      buf[this.pos++] = 0xcb;
      buf.writeDoubleBE(n, this.pos);
      this.pos += 8;
    }
  }

  private string(s: string): void {
    const n = s.length;
    // Names, codes and ids are ASCII: a byte per character, after a header sized by the length.
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
    const buf = this.buf;
    if (n < 0x100) {
      buf[this.pos++] = 0xc4;
      buf[this.pos++] = n;
    } else {
      this.long(n, 0xc5, 0xc6);
    }
    buf.set(b, this.pos);
    this.pos += n;
  }

  private strHeader(n: number): void {
    const buf = this.buf;
    if (n < 32) {
      buf[this.pos++] = 0xa0 | n;
    } else if (n < 0x100) {
      buf[this.pos++] = 0xd9;
      buf[this.pos++] = n;
    } else {
      this.long(n, 0xda, 0xdb);
    }
  }

  private arrayHeader(n: number): void {
    if (n < 16) this.buf[this.pos++] = 0x90 | n;
    else this.long(n, 0xdc, 0xdd);
  }

  /** A 16-bit or 32-bit length after its type byte. */
  private long(n: number, type16: number, type32: number): void {
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
