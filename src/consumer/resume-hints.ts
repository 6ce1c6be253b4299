/**
 * What a browser says it has seen (docs/recovery.md, "On the wire"): the
 * `$resume` query parameter of its handshake, `{ "<group>": [epoch, offset] }`
 * in JSON. It comes from the page, so it is only a hint: bounded here
 * (size, count, each field's form), read only for a group the consumer
 * itself resumes (a hint for any other group reads nothing), and a forged
 * one can only cost its page a `recovered: false`, or a replay of at most
 * the resume's `limit` messages of a group it joined anyway.
 */
import type { HistoryPosition } from "../layer.js";
import { assertGroupName } from "../names.js";

/** The query parameter a client sends its positions in; its presence also asks for positions in the frames. */
export const RESUME_PARAM = "$resume";
/** Longest `$resume` value read, in characters (JSON of MAX_RESUME_HINTS positions fits). */
export const MAX_RESUME_CHARS = 8192;
/** Most groups one handshake may name. */
export const MAX_RESUME_HINTS = 32;
/** Longest epoch accepted (the backends make 16 hex digits; 64 leaves room for others). */
const MAX_EPOCH_CHARS = 64;

/** The positions a client sent, by group; a string says why they were all ignored. */
export function parseResumeHints(value: string): Map<string, HistoryPosition> | string {
  if (value.length > MAX_RESUME_CHARS) return `it is ${value.length} characters, more than ${MAX_RESUME_CHARS}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return "it is not JSON";
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return 'it is not an object { "<group>": [epoch, offset] }';
  const entries = Object.entries(parsed);
  if (entries.length > MAX_RESUME_HINTS) return `it names ${entries.length} groups, more than ${MAX_RESUME_HINTS}`;
  const hints = new Map<string, HistoryPosition>();
  for (const [group, position] of entries) {
    try {
      assertGroupName(group);
    } catch (err) {
      return (err as Error).message;
    }
    if (!Array.isArray(position) || position.length !== 2) return `the position of ${JSON.stringify(group)} is not [epoch, offset]`;
    const [epoch, offset] = position as unknown[];
    if (typeof epoch !== "string" || epoch.length === 0 || epoch.length > MAX_EPOCH_CHARS) return `the epoch of ${JSON.stringify(group)} is not a string of 1 to ${MAX_EPOCH_CHARS} characters`;
    if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) return `the offset of ${JSON.stringify(group)} is not a non-negative integer`;
    hints.set(group, { epoch, offset });
  }
  return hints;
}
