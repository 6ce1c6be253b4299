/**
 * What one connection may cost the broker, and the arithmetic behind it.
 * A client's requests are served only while the answers it is owed (counted
 * before they are encoded) stay under its output budget, and only a bounded
 * amount of them per turn of the event loop, so that no client can make the
 * broker build gigabytes of answers or keep the others waiting.
 */

/** Answer bytes a client may be owed (queued or unsent) before its further requests wait for it to read. */
export const OUTPUT_BUDGET = 4 * 1024 * 1024;

/** Requests one connection is served per turn of the event loop; the rest wait for the next turn. */
export const REQUESTS_PER_TURN = 256;

/**
 * Group members one connection's group sends may deliver to per turn of the
 * event loop; a larger group is delivered over several turns. A delivery costs
 * 0.5 to 2 µs (a busy machine, a heap of millions of messages), so a turn of
 * one client's fan-out holds the others up 0.5 to 2 ms (before, one frame of
 * 200 group sends to 50k members held them up 6.8 s).
 */
export const DELIVERIES_PER_TURN = 1024;

/**
 * Members a group send is delivered to at a time: a group larger than this is
 * sliced, and a turn delivers slices until DELIVERIES_PER_TURN or
 * FANOUT_TURN_MS is spent, whichever comes first.
 */
export const FANOUT_STEP = 256;

/**
 * Longest a turn spends on one connection's sliced group send (or on the
 * broker's own: presence announcements, sends whose sender left). Another
 * client's call waits at most about this per turn: measured round trips alone
 * are 0.2 to 0.5 ms on this machine, and the abuse bench holds fan-out to 5x them.
 */
export const FANOUT_TURN_MS = 0.25;

/** Answer bytes one connection may be given per turn of the event loop. */
export const BYTES_PER_TURN = 64 * 1024;

/** Largest frame accepted before hello: a hello is a few hundred bytes. */
export const HELLO_FRAME_BYTES = 4 * 1024;

/** Default milliseconds a connection has to say hello before it is closed. */
export const HELLO_TIMEOUT_MS = 5000;

/**
 * A read that brings fewer bytes than this and completes no frame is a
 * dribble. Past FREE_DRIBBLES of them in a row the connection is not read
 * for 1 ms, then 2, 4 … up to MAX_DRIBBLE_PAUSE_MS, until a read completes a
 * frame or brings this much: what arrives meanwhile waits in the kernel and
 * comes in one read. Each read costs the broker a system call and a callback
 * whatever it brings, so a client sending a byte at a time on hundreds of
 * connections would otherwise keep it busy reading; a client sending at
 * any real rate fills its pauses with more than this and is not slowed.
 */
export const SMALL_READ_BYTES = 4 * 1024;
export const FREE_DRIBBLES = 3;
export const MAX_DRIBBLE_PAUSE_MS = 128;

/** Default bytes all a broker's connections may hold of frames still arriving (maxPartialBytes). */
export const PARTIAL_FRAME_BYTES = 64 * 1024 * 1024;

/** Answers are encoded and written in pieces of about this many bytes, so no single encoding grows large. */
export const WRITE_SLICE_BYTES = 1024 * 1024;

/**
 * An upper estimate of a value's msgpack size, without encoding it: strings
 * count 3 bytes a character (UTF-8's worst case for UTF-16 units), bytes their
 * length, and every value its header. Deep values are not expected in answers;
 * past `depth` 8 a value counts a fixed 1 KiB.
 */
export function wireEstimate(value: unknown, depth = 0): number {
  switch (typeof value) {
    case "string":
      return 5 + 3 * value.length;
    case "number":
    case "bigint":
      return 9;
    case "object": {
      if (value === null) return 1;
      if (value instanceof Uint8Array) return 5 + value.length;
      if (depth > 8) return 1024;
      let n = 5;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) n += wireEstimate(value[i], depth + 1);
      } else {
        for (const key in value) n += 5 + 3 * key.length + wireEstimate((value as Record<string, unknown>)[key], depth + 1);
      }
      return n;
    }
    default:
      return 1;
  }
}
