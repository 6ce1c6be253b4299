/**
 * Message type → handler method name, as Django Channels does it, so a
 * handler reads the same in both languages: "chat.message" → `chat_message`.
 */

import { InvalidMessageTypeError } from "../errors.js";

export { InvalidMessageTypeError };

/** Types already mapped: a Map lookup costs less than the replace and the string it makes, once per message. */
const KNOWN = new Map<string, string>();
const KNOWN_LIMIT = 1024;

/**
 * The handler name for `type`: every "." becomes "_". A name that would
 * start with "_" is refused, because underscore methods are private by
 * convention and a sender must never be able to reach them (Channels refuses
 * them too).
 */
export function handlerName(type: unknown): string {
  const known = KNOWN.get(type as string);
  if (known !== undefined) return known;
  if (typeof type !== "string" || type.length === 0) {
    throw new InvalidMessageTypeError(`a message needs a non-empty string "type" to name its handler, got ${JSON.stringify(type)}`);
  }
  const name = type.replaceAll(".", "_");
  if (name.startsWith("_")) {
    throw new InvalidMessageTypeError(
      `message type "${type}" would name the handler "${name}", which starts with "_": underscore methods are never handlers`,
    );
  }
  // Bounded by clearing: types come from senders, and an app uses a few of them heavily.
  if (KNOWN.size === KNOWN_LIMIT) KNOWN.clear();
  KNOWN.set(type, name);
  return name;
}
