/**
 * Presence on the wire (docs/presence.md, docs/broker.md): the arguments the
 * broker checks, the pages it answers with, the join/leave bodies it
 * group-sends, and the client's reading of a page. Info travels as msgpack
 * bin, encoded once by the client, kept as bytes by the broker and decoded
 * only to build an event.
 */
import type { PresenceEntry, PresencePage } from "../layer.js";
import type { PresencePageOf } from "../engine/presence.js";
import { decodeMessage, encodeMessage } from "../dependencies/msgpack.js";
import { presenceEvent, PRESENCE_PAGE_MAX } from "../options/presence.js";
import { ProtocolError } from "../errors.js";

/** A GroupAdd's presence info: msgpack bin of a map, no larger than a message may be. */
export function presenceInfoArg(value: unknown, maxBytes: number): Buffer {
  if (!(value instanceof Uint8Array)) throw new ProtocolError("presence info must be msgpack bin (bytes)");
  if (value.length > maxBytes) throw new ProtocolError(`presence info of ${value.length} bytes is over maxMessageBytes (${maxBytes})`);
  let info: unknown;
  try {
    info = decodeMessage(value);
  } catch {
    throw new ProtocolError("presence info is not msgpack");
  }
  if (typeof info !== "object" || info === null || Array.isArray(info) || info instanceof Uint8Array) {
    throw new ProtocolError("presence info must decode to a map");
  }
  return Buffer.from(value);
}

/** The body of a presence.join or presence.leave the broker group-sends. */
export function presenceEventBody(type: "presence.join" | "presence.leave", group: string, channel: string, info: Buffer): Buffer {
  return encodeMessage(presenceEvent(type, group, channel, decodeMessage(info)));
}

/** A Presence op's limit and cursor (-1: from the first entry). */
export function presencePageArgs(limit: unknown, after: unknown): { limit: number; after: number } {
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > PRESENCE_PAGE_MAX) {
    throw new ProtocolError(`presence: the limit must be an integer from 1 to ${PRESENCE_PAGE_MAX}`);
  }
  if (after == null) return { limit, after: -1 };
  if (typeof after !== "number" || !Number.isSafeInteger(after) || after < 0) throw new ProtocolError("presence: after must be a cursor a page gave");
  return { limit, after };
}

/** A page as the broker answers it: [[channel, info, since], …], next | null. */
export function presencePageFrame(page: PresencePageOf<unknown>): [Array<[string, unknown, number]>, number | null] {
  return [page.entries.map((e) => [e.channel, e.info, e.since]), page.next ?? null];
}

/** The client's reading of that answer. */
export function readPresencePage(entries: unknown, next: unknown): PresencePage {
  if (!Array.isArray(entries)) throw new ProtocolError("presence: the broker answered without a list of entries");
  const out: PresenceEntry[] = (entries as Array<[string, Uint8Array, number]>).map(([channel, info, since]) => ({
    channel,
    info: decodeMessage(info),
    since,
  }));
  return typeof next === "number" ? { entries: out, next: String(next) } : { entries: out };
}
