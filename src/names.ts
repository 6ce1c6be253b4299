/**
 * Channel and group name rules (docs/semantics.md §2), the non-local part of a
 * process-local name, and how `newChannel` names are made.
 */
import { customAlphabet } from "nanoid";
import { InvalidChannelNameError, InvalidGroupNameError } from "./errors.js";

export const MAX_NAME_LENGTH = 100;
const CHANNEL_RE = /^[a-zA-Z\d\-_.]+(![\d\w\-_.]*)?$/;
const GROUP_RE = /^[a-zA-Z\d\-_.]+$/;

// Letters and digits only: an id must itself be a valid name part, and
// nanoid's default alphabet has no character the name rule refuses, but
// keeping `-` and `_` out makes ids easy to read in logs.
export const uniqueId = customAlphabet("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 12);

function describe(name: unknown): string {
  return typeof name === "string" ? JSON.stringify(name) : `a ${name === null ? "null" : typeof name}`;
}

// Names already checked: a Set lookup (the string's hash is cached) costs less
// than the regex, and apps reuse a few names heavily. Bounded by clearing.
const KNOWN_CHANNELS = new Set<string>();
const KNOWN_LIMIT = 10_000;

/** Throws InvalidChannelNameError unless `name` follows the channel rule. */
export function assertChannelName(name: unknown, what = "channel name"): asserts name is string {
  if (KNOWN_CHANNELS.has(name as string)) return;
  if (typeof name !== "string") {
    throw new InvalidChannelNameError(`${what} must be a string, got ${describe(name)}`);
  }
  if (name.length >= MAX_NAME_LENGTH) {
    throw new InvalidChannelNameError(
      `${what} ${describe(name.slice(0, 20) + "…")} is ${name.length} characters; it must be shorter than ${MAX_NAME_LENGTH}`,
    );
  }
  if (!CHANNEL_RE.test(name)) {
    throw new InvalidChannelNameError(
      `${what} ${describe(name)} is invalid: use ASCII letters, digits, "-", "_" and ".", ` +
        `optionally followed by one "!" and a local part (rule ${CHANNEL_RE.source})`,
    );
  }
  if (KNOWN_CHANNELS.size >= KNOWN_LIMIT) KNOWN_CHANNELS.clear();
  KNOWN_CHANNELS.add(name);
}

/** Throws InvalidGroupNameError unless `name` follows the group rule. */
export function assertGroupName(name: unknown): asserts name is string {
  if (typeof name !== "string") {
    throw new InvalidGroupNameError(`group name must be a string, got ${describe(name)}`);
  }
  if (name.length >= MAX_NAME_LENGTH) {
    throw new InvalidGroupNameError(
      `group name ${describe(name.slice(0, 20) + "…")} is ${name.length} characters; it must be shorter than ${MAX_NAME_LENGTH}`,
    );
  }
  if (!GROUP_RE.test(name)) {
    throw new InvalidGroupNameError(
      `group name ${describe(name)} is invalid: use ASCII letters, digits, "-", "_" and "." only (rule ${GROUP_RE.source})`,
    );
  }
}

/** Whether a channel name is process-local (has a `!`). */
export function isProcessLocal(name: string): boolean {
  return name.includes("!");
}

/** The part of a name up to and including `!`, or the whole name when it has none. */
export function nonLocalName(name: string): string {
  const bang = name.indexOf("!");
  return bang === -1 ? name : name.slice(0, bang + 1);
}

/** The name `newChannel(prefix)` returns for a layer instance. */
export function makeChannelName(prefix: string, instanceId: string): string {
  return `${prefix}.${instanceId}!${uniqueId()}`;
}

/**
 * The layer instance a process-local channel belongs to: the part between the
 * last "." and the "!" (`<prefix>.<instance id>!<unique id>`, docs/semantics.md §2.3);
 * undefined for a name that is not one instance's.
 */
export function ownerOf(name: string): string | undefined {
  const bang = name.indexOf("!");
  if (bang === -1) return undefined;
  const dot = name.lastIndexOf(".", bang);
  return dot === -1 ? undefined : name.slice(dot + 1, bang);
}

/** Whether a process-local channel belongs to the instance with `instanceId`. */
export function ownsChannel(name: string, instanceId: string): boolean {
  return ownerOf(name) === instanceId;
}

/**
 * Throws InvalidChannelNameError when `name` is another instance's
 * process-local channel: only the instance that made it may receive from it
 * (docs/semantics.md §3.7, §4.3), or do what `act` says.
 */
export function assertOwnChannel(name: string, instanceId: string, act = "receive from it"): void {
  if (!isProcessLocal(name) || ownsChannel(name, instanceId)) return;
  throw new InvalidChannelNameError(
    `channel "${name}" is process-local to another layer instance (this one is "${instanceId}"): ` +
      `only the instance that made it with newChannel() can ${act}`,
  );
}
