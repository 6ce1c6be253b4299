/**
 * Presence (docs/presence.md): the public shapes, the option that
 * turns join/leave events on per group, and the checks every backend makes
 * before an entry is stored. The entries themselves live in the engine
 * (src/engine/presence.ts) or in Redis (src/redis/presence.ts).
 */
import type { GroupPresenceRule, PresenceEvent, PresenceInfo, PresenceOptions, PresenceQuery } from "../layer.js";
import { copyMessage, type CopyOptions } from "../message.js";
import { PatternRules } from "./patterns.js";

/** Entries a presence() page holds when the caller gives no limit. */
export const PRESENCE_PAGE = 100;
/** Most entries one presence() call returns: a 100k-member group is read in pages, never whole. */
export const PRESENCE_PAGE_MAX = 1000;

/** Which groups announce presence (the `groupPresence` option, checked when a layer is made). */
export function presenceRules(options: PresenceOptions | undefined): PatternRules<boolean> {
  return new PatternRules("groupPresence", options?.groupPresence, (value, what) => {
    if (typeof value !== "object" || value === null || typeof (value as { events?: unknown }).events !== "boolean") {
      throw new TypeError(`${what} must be { events: true } or { events: false }`);
    }
    return (value as GroupPresenceRule).events;
  });
}

/**
 * Check presence info and return a copy: a plain object, valid as message
 * values, and small enough that the join event carrying it stays within
 * `maxBytes` (the rules of src/message.ts, which do the walk).
 */
export function copyPresenceInfo(group: string, channel: string, info: unknown, options: CopyOptions): PresenceInfo {
  if (typeof info !== "object" || info === null || Array.isArray(info) || info instanceof Uint8Array) {
    throw new TypeError(`groupAdd presence must be a plain object (the member's info), got ${info === null ? "null" : Array.isArray(info) ? "an array" : typeof info}`);
  }
  return copyMessage(presenceEvent("presence.join", group, channel, info as PresenceInfo), options).info as PresenceInfo;
}

export function presenceEvent(type: PresenceEvent["type"], group: string, channel: string, info: PresenceInfo): PresenceEvent {
  return { type, group, channel, info };
}

/**
 * `--group-presence PATTERN` flags (`serve`): members of groups matching a
 * PATTERN receive presence.join / presence.leave. A RangeError in the flag's
 * words for anything that is no group name glob.
 */
export function presenceFlag(flags: readonly string[] | undefined): Array<[string, GroupPresenceRule]> | undefined {
  if (flags === undefined) return undefined;
  return flags.map((flag) => {
    // A group name's characters (letters, digits, "-", "_", ".") and a glob's ("*", "?", "[", "]", "!").
    if (!/^[A-Za-z0-9._\-*?[\]!]{1,200}$/.test(flag)) {
      throw new RangeError(`--group-presence must be a group name pattern, a glob such as "room.*" (repeat the flag for several); got ${JSON.stringify(flag)}`);
    }
    return [flag, { events: true }];
  });
}

/** Check a presence() query; returns the limit and the cursor (-1: from the start). */
export function presenceQuery(query: PresenceQuery | undefined): { limit: number; after: number } {
  const limit = query?.limit ?? PRESENCE_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > PRESENCE_PAGE_MAX) {
    throw new RangeError(`presence limit must be an integer from 1 to ${PRESENCE_PAGE_MAX}, got ${String(limit)}`);
  }
  const after = query?.after;
  if (after === undefined) return { limit, after: -1 };
  if (typeof after !== "string" || !/^\d{1,15}$/.test(after)) throw new TypeError(`presence after must be the next of a previous page, got ${JSON.stringify(after)}`);
  return { limit, after: Number(after) };
}
