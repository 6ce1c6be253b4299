/**
 * Message type → handler method name, as Django Channels does it, so a
 * handler reads the same in both languages: "chat.message" → `chat_message`.
 */

import { InvalidMessageTypeError } from "../errors.js";

export { InvalidMessageTypeError };

/**
 * The handler name for `type`: every "." becomes "_". A name that would
 * start with "_" is refused, because underscore methods are private by
 * convention and a sender must never be able to reach them (Channels refuses
 * them too).
 */
export function handlerName(type: unknown): string {
  if (typeof type !== "string" || type.length === 0) {
    throw new InvalidMessageTypeError(`a message needs a non-empty string "type" to name its handler, got ${JSON.stringify(type)}`);
  }
  const name = type.replaceAll(".", "_");
  if (name.startsWith("_")) {
    throw new InvalidMessageTypeError(
      `message type "${type}" would name the handler "${name}", which starts with "_": underscore methods are never handlers`,
    );
  }
  return name;
}
