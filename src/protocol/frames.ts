/**
 * Framing for byte streams: each frame is a 4-byte big-endian length and a
 * msgpack body (the shared `packr`). A batch of frames is written as one
 * buffer, so every request made in one tick leaves in one write.
 */
import { ProtocolError } from "../errors.js";
import { packr } from "../msgpack.js";

/** Room a frame needs beyond its message body: the op, id, names and msgpack headers. */
export const FRAME_OVERHEAD = 64 * 1024;

/** Encode frames into one buffer of length-prefixed msgpack bodies. */
export function encodeFrames(frames: readonly unknown[]): Buffer {
  const bodies: Buffer[] = new Array(frames.length);
  let total = 0;
  for (let i = 0; i < frames.length; i++) {
    const body = packr.pack(frames[i]);
    bodies[i] = body;
    total += 4 + body.length;
  }
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const body of bodies) {
    out.writeUInt32BE(body.length, offset);
    body.copy(out, offset + 4);
    offset += 4 + body.length;
  }
  return out;
}

/**
 * Turns chunks (split or coalesced anyhow) back into decoded frames. A length
 * above `maxFrameBytes` or a body that is not msgpack throws ProtocolError:
 * the stream cannot be trusted past that point, so its owner ends it.
 */
export class FrameDecoder {
  private rest: Buffer | undefined;

  constructor(private readonly maxFrameBytes: number) {}

  /** Calls `onFrame` for every complete frame in `chunk` and what came before it. */
  push(chunk: Buffer, onFrame: (frame: unknown) => void): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    let offset = 0;
    while (buf.length - offset >= 4) {
      const length = buf.readUInt32BE(offset);
      if (length > this.maxFrameBytes) {
        throw new ProtocolError(`frame of ${length} bytes is over the limit of ${this.maxFrameBytes} bytes`);
      }
      if (buf.length - offset - 4 < length) break;
      const body = buf.subarray(offset + 4, offset + 4 + length);
      offset += 4 + length;
      let frame: unknown;
      try {
        frame = packr.unpack(body);
      } catch (err) {
        throw new ProtocolError(`frame is not valid msgpack: ${(err as Error).message}`);
      }
      onFrame(frame);
    }
    if (offset < buf.length) this.rest = buf.subarray(offset);
  }

  /** Bytes held of a frame not yet complete. */
  get buffered(): number {
    return this.rest?.length ?? 0;
  }
}
