/**
 * A Link over a byte stream (TCP, TLS or Unix socket): length-prefixed
 * msgpack frames, one write per batch, and a bound on what a peer that does
 * not read may make us buffer. On a broker's side also: room reserved for
 * frames still arriving, and pauses for a peer that dribbles.
 */
import type { Socket } from "node:net";
import { FrameDecoder } from "../protocol/frames.js";
import { encodeFrames } from "../protocol/frames.js";
import { FREE_DRIBBLES, MAX_DRIBBLE_PAUSE_MS, SMALL_READ_BYTES } from "../protocol/limits.js";
import type { Link, LinkHandlers } from "../protocol/link.js";
import type { PartialFrames } from "./partial-frames.js";

export interface StreamLinkOptions {
  /** Largest frame accepted from the peer, in bytes. */
  maxFrameBytes: number;
  /** Bytes we may hold for a peer that does not read before dropping it. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** Largest frame accepted until `admit()` (a broker's limit for peers that have not said hello). Default maxFrameBytes. */
  unknownFrameBytes?: number;
  /** Room for frames still arriving, shared with the other connections (a broker's), reserved from `admit()` on. */
  partialFrames?: PartialFrames;
  /**
   * Pause a peer that dribbles (see SMALL_READ_BYTES). It stops the reads
   * themselves only where the socket's readable highWaterMark is 0 (a
   * broker's plain sockets); elsewhere Node reads on into its buffer.
   */
  throttleDribbles?: boolean;
}

/** Why the socket is not being read: bits of `holds`. */
const SESSION = 1;
const DRIBBLE = 2;
const ROOM = 4;

/** How long an ended stream may take to close before it is destroyed. */
const END_GRACE_MS = 1000;

export function streamLink(socket: Socket, handlers: LinkHandlers, options: StreamLinkOptions): Link {
  const decoder = new FrameDecoder(options.unknownFrameBytes ?? options.maxFrameBytes);
  const maxBuffered = options.maxBufferedBytes ?? 64 * 1024 * 1024;
  const room = options.partialFrames;
  let failed = false;
  let admitted = false;
  let lastError: Error | undefined;
  let killer: NodeJS.Timeout | undefined;
  let holds = 0;
  const hold = (reason: number): void => {
    if (holds === 0) socket.pause();
    holds |= reason;
  };
  const letGo = (reason: number): void => {
    holds &= ~reason;
    if (holds === 0 && !socket.destroyed) socket.resume();
  };

  // Small reads in a row that completed no frame, and the pause that follows them.
  let dribbles = 0;
  let pause: NodeJS.Timeout | undefined;
  const pace = (bytes: number, completed: number): void => {
    if (completed > 0 || bytes >= SMALL_READ_BYTES || decoder.buffered === 0) {
      dribbles = 0;
      return;
    }
    if (++dribbles <= FREE_DRIBBLES) return;
    hold(DRIBBLE);
    clearTimeout(pause);
    pause = setTimeout(() => {
      pause = undefined;
      letGo(DRIBBLE);
    }, Math.min(MAX_DRIBBLE_PAUSE_MS, 2 ** (dribbles - FREE_DRIBBLES - 1)));
    pause.unref();
  };

  // Room reserved for the frame being gathered, or (while not reading) waited for.
  let reserved = 0;
  let wanted = 0;
  const granted = (): void => {
    reserved = wanted;
    wanted = 0;
    letGo(ROOM);
  };
  const reserve = (): void => {
    const need = decoder.gathering;
    if (need === reserved) return;
    room!.release(reserved);
    reserved = 0;
    if (need === 0) return;
    if (room!.reserve(need, granted)) reserved = need;
    else {
      wanted = need;
      hold(ROOM);
    }
  };

  socket.setNoDelay(true);
  socket.on("data", (chunk: Buffer) => {
    if (failed) return;
    let completed: number;
    try {
      completed = decoder.push(chunk, handlers.onFrame);
    } catch (err) {
      failed = true;
      return handlers.onMalformed(err as Error);
    }
    if (room !== undefined && admitted) reserve();
    if (options.throttleDribbles) pace(chunk.length, completed);
  });
  socket.on("error", (err) => (lastError = err));
  if (handlers.onDrained) socket.on("drain", handlers.onDrained);
  socket.on("close", () => {
    clearTimeout(killer);
    clearTimeout(pause);
    if (wanted > 0) room!.cancel(granted);
    if (reserved > 0) room!.release(reserved);
    wanted = reserved = 0;
    handlers.onClosed(lastError);
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
    pause: () => hold(SESSION),
    resume: () => letGo(SESSION),
    admit() {
      decoder.maxFrameBytes = options.maxFrameBytes;
      admitted = true;
    },
    close() {
      if (socket.destroyed) return;
      socket.end();
      killer ??= setTimeout(() => socket.destroy(), END_GRACE_MS);
      killer.unref();
    },
  };
}
