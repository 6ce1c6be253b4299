/**
 * The only messages the IPC backend puts on Node's own IPC channel (process
 * send/message or a MessagePort): a child asks where the parent's broker is,
 * the parent answers with a Unix socket path and a one-time token. Every
 * message carries the TAG key, so anything else on the channel (the user's
 * own messages) is left alone. The protocol itself then runs over the socket:
 * measured faster than Node's IPC serialization for processes (the IPC page under docs/, "How it works, and why this wire").
 */

/** The key that marks a message as ours. */
export const TAG = "channelLayersIpc";

/** Child → parent: where is the broker? `id` matches the answer to the question. */
export interface WhereMessage {
  [TAG]: "where";
  id: number;
  /** The asking layer's instanceId, so the parent can clean up after it when the child dies. */
  instance: string;
}

/** Parent → child: the answer, or why there is none. */
export interface HereMessage {
  [TAG]: "here";
  id: number;
  path?: string;
  token?: string;
  error?: string;
}

export function isWhere(m: unknown): m is WhereMessage {
  const x = m as Partial<WhereMessage> | null;
  return typeof x === "object" && x !== null && x[TAG] === "where" && typeof x.id === "number" && typeof x.instance === "string";
}

export function isHere(m: unknown): m is HereMessage {
  const x = m as Partial<HereMessage> | null;
  return typeof x === "object" && x !== null && x[TAG] === "here" && typeof x.id === "number";
}
