/**
 * Framing for byte streams: a stream frame is a 4-byte big-endian length and a
 * msgpack body (the shared `packr`) holding an array of protocol frames: the
 * batch made in one tick, which leaves in one write.
 */
import { ProtocolError } from "../errors.js";
import { DEFAULTS } from "../layer.js";
import { packr } from "../dependencies/msgpack.js";
import { writer } from "./writer.js";

/** Room a frame needs beyond its message body: the op, id, names and msgpack headers. */
const FRAME_OVERHEAD = 64 * 1024;

/** The least a client accepts: the broker's message limit may be larger than the client's own. */
const CLIENT_FRAME_FLOOR = 16 * 1024 * 1024;

/** The largest stream frame a peer must accept to carry a message of `maxMessageBytes` (a broker's default limit). */
export function frameBytesFor(maxMessageBytes: number): number {
  return maxMessageBytes + FRAME_OVERHEAD;
}

/** The largest stream frame a client reads: bigger than any message it may send or the broker may answer with. */
export function clientFrameBytes(maxMessageBytes = DEFAULTS.maxMessageBytes): number {
  return Math.max(frameBytesFor(maxMessageBytes), CLIENT_FRAME_FLOOR);
}

/** A batch past this size goes in several stream frames (fewer when the peer's frame limit is smaller). */
export const BATCH_SPLIT_BYTES = 256 * 1024;

/**
 * Encode a batch of frames (protocol arrays) for one write: normally one
 * stream frame holding the msgpack array of them all; a batch that encodes
 * too large goes in several, so a stream frame is never much bigger than its
 * largest message.
 */
export function encodeFrames(frames: readonly unknown[], splitBytes = BATCH_SPLIT_BYTES): Buffer {
  return writer.frames(frames, Math.min(splitBytes, BATCH_SPLIT_BYTES));
}

/**
 * Turns chunks (split or coalesced anyhow) back into decoded frames. A length
 * above `maxFrameBytes`, a body that is not msgpack or not an array of frames
 * throws ProtocolError: the stream cannot be trusted past that point, so its
 * owner ends it. The chunks of a frame not yet complete are kept as they came
 * and joined once, when the frame is: a peer dribbling a large frame a byte
 * at a time costs one copy of it, not one per chunk.
 */
export class FrameDecoder {
  private parts: Buffer[] = [];
  private heldBytes = 0;
  /** Bytes the frame being gathered needs in all (length header included); 0 while its header is incomplete. */
  private need = 0;

  /** The largest frame accepted; may be raised later (the broker does after hello). */
  constructor(public maxFrameBytes: number) {}

  /**
   * Calls `onFrame` for every complete frame in `chunk` and what came before
   * it. Returns how many stream frames `chunk` completed.
   */
  push(chunk: Buffer, onFrame: (frame: unknown) => void): number {
    let buf = chunk;
    let completed = 0;
    if (this.heldBytes > 0) {
      this.parts.push(chunk);
      this.heldBytes += chunk.length;
      if (this.need === 0 && this.heldBytes >= 4) this.need = 4 + this.lengthAt(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, 4), 0);
      if (this.need === 0 || this.heldBytes < this.need) return 0;
      buf = Buffer.concat(this.parts, this.heldBytes);
      this.parts = [];
      this.heldBytes = 0;
      this.need = 0;
    }
    let offset = 0;
    while (buf.length - offset >= 4) {
      const length = this.lengthAt(buf, offset);
      if (buf.length - offset - 4 < length) break;
      const body = buf.subarray(offset + 4, offset + 4 + length);
      offset += 4 + length;
      let batch: unknown;
      try {
        batch = packr.unpack(body);
      } catch (err) {
        throw new ProtocolError(`frame is not valid msgpack: ${(err as Error).message}`);
      }
      if (!Array.isArray(batch)) throw new ProtocolError("a stream frame must hold an array of protocol frames");
      completed++;
      for (let i = 0; i < batch.length; i++) onFrame(batch[i]);
    }
    if (offset < buf.length) {
      const rest = buf.subarray(offset);
      this.parts = [rest];
      this.heldBytes = rest.length;
      this.need = rest.length >= 4 ? 4 + rest.readUInt32BE(0) : 0;
    }
    return completed;
  }

  /** The length in the header at `offset`, checked against the limit. */
  private lengthAt(buf: Buffer, offset: number): number {
    const length = buf.readUInt32BE(offset);
    if (length > this.maxFrameBytes) {
      throw new ProtocolError(`frame of ${length} bytes is over the limit of ${this.maxFrameBytes} bytes`);
    }
    return length;
  }

  /** Bytes held of a frame not yet complete. */
  get buffered(): number {
    return this.heldBytes;
  }

  /** Bytes the frame being gathered takes in all, length header included, once its header is in; 0 otherwise. */
  get gathering(): number {
    return this.need;
  }
}
