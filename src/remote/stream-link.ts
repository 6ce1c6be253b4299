/**
 * A Link over a byte stream (TCP, TLS or Unix socket): length-prefixed
 * msgpack frames, one write per batch, and a bound on what a peer that does
 * not read may make us buffer.
 */
import type { Socket } from "node:net";
import { FrameDecoder } from "../protocol/frames.js";
import { encodeFrames } from "../protocol/frames.js";
import type { Link, LinkHandlers } from "../protocol/link.js";

export interface StreamLinkOptions {
  /** Largest frame accepted from the peer, in bytes. */
  maxFrameBytes: number;
  /** Bytes we may hold for a peer that does not read before dropping it. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** Largest frame accepted until `admit()` (a broker's limit for peers that have not said hello). Default maxFrameBytes. */
  unknownFrameBytes?: number;
}

/** How long an ended stream may take to close before it is destroyed. */
const END_GRACE_MS = 1000;

export function streamLink(socket: Socket, handlers: LinkHandlers, options: StreamLinkOptions): Link {
  const decoder = new FrameDecoder(options.unknownFrameBytes ?? options.maxFrameBytes);
  const maxBuffered = options.maxBufferedBytes ?? 64 * 1024 * 1024;
  let failed = false;
  let lastError: Error | undefined;
  let killer: NodeJS.Timeout | undefined;
  socket.setNoDelay(true);
  socket.on("data", (chunk: Buffer) => {
    if (failed) return;
    try {
      decoder.push(chunk, handlers.frame);
    } catch (err) {
      failed = true;
      handlers.malformed(err as Error);
    }
  });
  socket.on("error", (err) => (lastError = err));
  if (handlers.drained) socket.on("drain", handlers.drained);
  socket.on("close", () => {
    clearTimeout(killer);
    handlers.closed(lastError);
  });
  return {
    send(frames, splitBytes) {
      if (socket.destroyed || socket.writableEnded) return;
      socket.write(encodeFrames(frames, splitBytes));
      if (socket.writableLength > maxBuffered) {
        socket.destroy(new Error(`peer is not reading: over ${maxBuffered} bytes waiting to be written`));
      }
    },
    get buffered() {
      return socket.writableLength;
    },
    pause: () => void socket.pause(),
    resume: () => void socket.resume(),
    admit() {
      decoder.maxFrameBytes = options.maxFrameBytes;
    },
    close() {
      if (socket.destroyed) return;
      socket.end();
      killer ??= setTimeout(() => socket.destroy(), END_GRACE_MS);
      killer.unref();
    },
  };
}
