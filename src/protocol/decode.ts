/**
 * Frames read off the wire into typed values: the one place that knows where
 * each field of a frame sits (ops.ts documents the layouts; encode.ts writes
 * them). The broker decodes requests, every field checked here, so a session
 * sees only requests it can serve or refuse; the client decodes answers.
 * Nothing here throws: what cannot be read is a BadRequest, or no answer.
 */
import type { BrokerDetails, BrokerStats, HelloInfo } from "./ops.js";
import { CONNECTION_ID, MAX_RECEIVE_BATCH, MAX_STATS_TOP, Op, ReceiveMode, Status } from "./ops.js";
import { MessageTooLargeError, ProtocolError } from "../errors.js";
import type { HistoryPosition, PresencePage } from "../layer.js";
import { assertChannelName, assertGroupName } from "../names.js";
import { errorFromWire } from "./errors.js";
import { MAX_HISTORY_READ } from "./history.js";
import { presenceInfoArg, presencePageArgs, readPresencePage } from "./presence.js";

type Of<O extends keyof typeof Op, Fields = object> = { op: (typeof Op)[O]; id: number } & Fields;

/** The hello's fields are judged by the broker (hello.ts), in the order its refusals take. */
export type HelloRequest = Of<"Hello", { version: unknown; instanceId: unknown; token: unknown; secret: unknown; features: number | undefined }>;
export type SendRequest = Of<"Send", { channel: string; body: Buffer; priority: number | undefined }>;
export type ReceiveRequest = Of<"Receive", { channel: string; max: number; mode: (typeof ReceiveMode)[keyof typeof ReceiveMode]; callers: number }>;
/** Its id is the receive's. */
export type CancelRequest = Of<"Cancel">;
/** One channel's report: the oldest `took` held reached application code; with `rest`, all others held go back. */
export interface Settle {
  channel: string;
  took: number;
  rest: boolean;
}
export type RequeueRequest = Of<"Requeue", { settles: Settle[] }>;
/** `expiry` in seconds; `presence`, msgpack bin of a map. */
export type GroupAddRequest = Of<"GroupAdd", { group: string; channel: string; expiry: number | undefined; presence: Buffer | undefined }>;
export type GroupDiscardRequest = Of<"GroupDiscard", { group: string; channel: string }>;
export type GroupSendRequest = Of<"GroupSend", { group: string; body: Buffer; priority: number | undefined; except: ReadonlySet<string> | undefined }>;
export type StatsRequest = Of<"Stats", { top: number | undefined }>;
/** `key` is `<channel>:<digest>` (cacheKeyChannel). */
export type CacheGetRequest = Of<"CacheGet", { key: string }>;
export type CacheSetRequest = Of<"CacheSet", { key: string; body: Buffer; ttlMs: number }>;
/** `reader`: the channel reading, whose sends that left it out (`except`) are left out of the read. */
export type GroupHistoryRequest = Of<"GroupHistory", { group: string; since: HistoryPosition | undefined; limit: number; reader: string | undefined }>;
/** `after` -1: from the first entry. */
export type PresenceRequest = Of<"Presence", { group: string; limit: number; after: number }>;
export type PresenceCountRequest = Of<"PresenceCount", { group: string }>;

export type Request =
  | HelloRequest
  | SendRequest
  | ReceiveRequest
  | CancelRequest
  | RequeueRequest
  | GroupAddRequest
  | GroupDiscardRequest
  | GroupSendRequest
  | Of<"Flush">
  | Of<"Ping">
  | StatsRequest
  | CacheGetRequest
  | CacheSetRequest
  | GroupHistoryRequest
  | PresenceRequest
  | PresenceCountRequest
  | Of<"Depart">;

/** The `op` of a frame that is no request the broker serves. */
export const BAD = -1;

/**
 * A frame that is no request the broker serves: answered with `error`, or,
 * when `fatal`, the connection ends (a frame that is not [op, id, …], a wrong
 * report). `asked` is the op it named, if it named one.
 */
export interface BadRequest {
  op: typeof BAD;
  id: number;
  asked: number | undefined;
  error: Error;
  fatal: boolean;
}

const ENVELOPE = "a request must be an array [op, id, ...args] with a uint32 id of at least 1";
const REQUEUE = "requeue must be [op, id, (channel, took, rest (0 or 1))…]";

const isId = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= 0xffff_ffff;
const isInt = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x);

/** The op a decoded frame asked for, whether or not it can be served. */
export function askedOp(request: Request | BadRequest): number | undefined {
  return request.op === BAD ? request.asked : request.op;
}

/** A request as the broker reads it; `maxMessageBytes` bounds its bodies. */
export function decodeRequest(frame: unknown, maxMessageBytes: number): Request | BadRequest {
  if (!Array.isArray(frame) || frame.length < 2 || typeof frame[0] !== "number" || !isId(frame[1])) {
    return { op: BAD, id: 0, asked: undefined, error: new ProtocolError(ENVELOPE), fatal: true };
  }
  const id = frame[1];
  try {
    return fields(frame, id, maxMessageBytes);
  } catch (err) {
    return { op: BAD, id, asked: frame[0], error: err as Error, fatal: err instanceof FatalFrame };
  }
}

/** A frame that ends the connection rather than being answered. */
class FatalFrame extends ProtocolError {}

/** The arguments of request `frame`, in the order the broker has always checked them; throws what is wrong. */
function fields(f: unknown[], id: number, maxBytes: number): Request {
  switch (f[0]) {
    case Op.Hello:
      return { op: Op.Hello, id, version: f[2], instanceId: f[3], token: f[4], secret: f[5], features: isInt(f[6]) && f[6] >= 0 ? f[6] : undefined };
    case Op.Send:
      return { op: Op.Send, id, channel: channelArg(f[2]), body: bodyArg(f[3], maxBytes), priority: priorityArg(f[4]) };
    case Op.Receive: {
      const max = f[3] ?? 1;
      if (!isInt(max) || max < 1 || max > MAX_RECEIVE_BATCH) throw new ProtocolError(`receive: the batch size must be an integer from 1 to ${MAX_RECEIVE_BATCH}`);
      const mode = f[4] === ReceiveMode.Watch ? ReceiveMode.Watch : f[4] === ReceiveMode.Standing ? ReceiveMode.Standing : ReceiveMode.Once;
      const callers = f[5] ?? (mode === ReceiveMode.Watch ? 0 : max);
      if (!isInt(callers) || callers < 0 || callers > max) throw new ProtocolError("receive: callers must be an integer from 0 to the batch size");
      return { op: Op.Receive, id, channel: channelArg(f[2]), max, mode, callers };
    }
    case Op.Cancel:
      return { op: Op.Cancel, id };
    case Op.Flush:
      return { op: Op.Flush, id };
    case Op.Ping:
      return { op: Op.Ping, id };
    case Op.Depart:
      return { op: Op.Depart, id };
    case Op.Requeue: {
      // Not answered: the client does not wait for it. A wrong one ends the session.
      if (f.length < 5 || (f.length - 2) % 3 !== 0) throw new FatalFrame(REQUEUE);
      const settles: Settle[] = [];
      for (let i = 2; i < f.length; i += 3) {
        const [channel, took, rest] = [f[i], f[i + 1], f[i + 2]];
        if (typeof channel !== "string" || !isInt(took) || took < 0 || (rest !== 0 && rest !== 1)) throw new FatalFrame(REQUEUE);
        settles.push({ channel, took, rest: rest === 1 });
      }
      return { op: Op.Requeue, id, settles };
    }
    case Op.GroupAdd: {
      const [group, channel, expiry] = [groupArg(f[2]), channelArg(f[3]), expiryArg(f[4])];
      return { op: Op.GroupAdd, id, group, channel, expiry, presence: f[5] == null ? undefined : presenceInfoArg(f[5], maxBytes) };
    }
    case Op.GroupDiscard:
      return { op: Op.GroupDiscard, id, group: groupArg(f[2]), channel: channelArg(f[3]) };
    case Op.GroupSend: {
      const [group, body, priority] = [groupArg(f[2]), bodyArg(f[3], maxBytes), priorityArg(f[4])];
      return { op: Op.GroupSend, id, group, body, priority, except: exceptArg(f[5]) };
    }
    case Op.Stats: {
      const top = f[2] ?? undefined;
      if (top !== undefined && (!isInt(top) || top < 1 || top > MAX_STATS_TOP)) throw new ProtocolError(`stats: top must be an integer from 1 to ${MAX_STATS_TOP}`);
      return { op: Op.Stats, id, top };
    }
    case Op.CacheGet:
      return { op: Op.CacheGet, id, key: cacheKeyArg(f[2]) };
    case Op.CacheSet: {
      const key = cacheKeyArg(f[2]);
      const ttlMs = f[4];
      if (typeof ttlMs !== "number" || !(ttlMs > 0 && ttlMs <= 86_400_000)) throw new ProtocolError("cache set: the ttl must be milliseconds from 1 to a day");
      return { op: Op.CacheSet, id, key, body: bodyArg(f[3], maxBytes), ttlMs };
    }
    case Op.GroupHistory:
      return { op: Op.GroupHistory, id, group: groupArg(f[2]), ...historyArgs(f[3], f[4], f[5], f[6]) };
    case Op.Presence:
      return { op: Op.Presence, id, group: groupArg(f[2]), ...presencePageArgs(f[3], f[4]) };
    case Op.PresenceCount:
      return { op: Op.PresenceCount, id, group: groupArg(f[2]) };
    default:
      throw new ProtocolError(`unknown op ${String(f[0])}`);
  }
}

function channelArg(value: unknown): string {
  assertChannelName(value);
  return value;
}

function groupArg(value: unknown): string {
  assertGroupName(value);
  return value;
}

/** A message body: opaque bytes, copied so it does not pin the socket chunk it arrived in. */
function bodyArg(value: unknown, limit: number): Buffer {
  if (!(value instanceof Uint8Array)) throw new ProtocolError("a message body must be msgpack bin (bytes)");
  if (value.length > limit) throw new MessageTooLargeError(value.length, limit);
  return Buffer.from(value);
}

/** An optional priority field: absent (null) or an integer 0–9. */
function priorityArg(value: unknown): number | undefined {
  if (value == null) return undefined;
  if (!isInt(value) || value < 0 || value > 9) throw new ProtocolError(`a priority must be an integer from 0 to 9, got ${String(value)}`);
  return value;
}

/** A GroupSend's optional members to leave out: absent (null) or an array of channel names. Its cost is bounded by the frame's size. */
function exceptArg(value: unknown): ReadonlySet<string> | undefined {
  if (value == null) return undefined;
  if (!Array.isArray(value)) throw new ProtocolError("a group send's except must be an array of channel names");
  for (const name of value) assertChannelName(name, "except channel name");
  return new Set(value as string[]);
}

/** A GroupAdd's optional expiry: absent (null) or positive seconds; the engine caps it at groupExpiry. */
function expiryArg(value: unknown): number | undefined {
  if (value == null) return undefined;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new ProtocolError(`a group expiry must be a positive number of seconds, got ${String(value)}`);
  }
  return value;
}

/** A reply cache key, `<channel>:<digest>`. */
function cacheKeyArg(key: unknown): string {
  if (typeof key !== "string" || key.length > 200) throw new ProtocolError("a cache key must be a string of at most 200 characters");
  if (key.lastIndexOf(":") < 1) throw new ProtocolError("a cache key must be <channel>:<digest>");
  assertChannelName(cacheKeyChannel(key), "cache key channel");
  return key;
}

/** The channel of a reply cache key: asking or storing needs rights to it. */
export function cacheKeyChannel(key: string): string {
  return key.slice(0, key.lastIndexOf(":"));
}

/** A history read's `since` (null epoch: from the start), `limit` (capped at MAX_HISTORY_READ) and optional reader. */
function historyArgs(epoch: unknown, offset: unknown, limit: unknown, reader: unknown): { since: HistoryPosition | undefined; limit: number; reader: string | undefined } {
  if (epoch !== null && (typeof epoch !== "string" || epoch.length > 64)) throw new ProtocolError("group history: since's epoch must be null or a string of at most 64 characters");
  if (epoch !== null && (!isInt(offset) || offset < 0)) throw new ProtocolError("group history: since's offset must be a non-negative integer");
  if (!isInt(limit) || limit < 1) throw new ProtocolError("group history: limit must be a positive integer");
  if (reader != null) {
    try {
      assertChannelName(reader, "group history reader");
    } catch (err) {
      throw new ProtocolError((err as Error).message);
    }
  }
  return { since: epoch === null ? undefined : { epoch, offset: offset as number }, limit: Math.min(limit, MAX_HISTORY_READ), reader: reader ?? undefined };
}

/** The instance id a hello frame names (the IPC link asks its parent for a broker with it). */
export function helloInstance(frame: unknown): string {
  return String((frame as unknown[])[3]);
}

/** An answer as the client reads it: [id, status, …values]. */
export interface Answer {
  id: number;
  status: number;
  values: readonly unknown[];
}

/** The answer in `frame`, or undefined when it is none (the client then ends the link). */
export function decodeAnswer(frame: unknown): Answer | undefined {
  if (!Array.isArray(frame) || typeof frame[0] !== "number" || typeof frame[1] !== "number") return undefined;
  return { id: frame[0], status: frame[1], values: frame };
}

/**
 * The answers a bundle (Status.Bundle) stands for, each as the frame
 * [id, status, body, deadline, priority] it replaces, in order; undefined when
 * the bundle is malformed (the client then ends the link).
 */
export function bundleAnswers(bundle: Answer): Answer[] | undefined {
  const v = bundle.values;
  if (v.length < 7 || (v.length - 5) % 2 !== 0) return undefined;
  const answers: Answer[] = [];
  for (let i = 5; i < v.length; i += 2) {
    const id = v[i];
    const status = v[i + 1];
    if (!isInt(id) || id === CONNECTION_ID || (status !== Status.Ok && status !== Status.Partial)) return undefined;
    answers.push({ id, status, values: [id, status, v[2], v[3], v[4]] });
  }
  return answers;
}

/** The values of an Ok or Partial answer start after its id and status. */
const FIRST = 2;

/** The error an answer other than Ok or Partial stands for. */
export function answerError(answer: Answer): Error {
  const v = answer.values;
  if (answer.status === Status.Error) return errorFromWire(v[FIRST], v[FIRST + 1], v[FIRST + 2]);
  return new ProtocolError(`the broker ended request ${answer.id} unexpectedly`);
}

/** The bodies of a receive's answer (each followed on the wire by its deadline and priority); none when it was cancelled. */
export function answerBodies(answer: Answer): unknown[] {
  const bodies: unknown[] = [];
  if (answer.status === Status.Cancelled) return bodies;
  const v = answer.values;
  for (let i = FIRST; i < v.length; i += 3) bodies.push(v[i]);
  return bodies;
}

/** What a hello answered Ok says: the broker's settings and who it is (older brokers may leave fields out). */
export function answerHello(answer: Answer): Partial<HelloInfo> {
  const info = answer.values[FIRST];
  return typeof info === "object" && info !== null ? (info) : {};
}

/** Readers of the value a call's answer carries, one per op that answers with one. */
export const read = {
  nothing: (): undefined => undefined,
  stats: (a: Answer) => a.values[FIRST] as BrokerStats & BrokerDetails,
  count: (a: Answer) => a.values[FIRST] as number,
  cacheEntry: (a: Answer) => ({ body: a.values[FIRST] as Uint8Array | null, storedAt: a.values[FIRST + 1] as number }),
  presencePage: (a: Answer): PresencePage => readPresencePage(a.values[FIRST], a.values[FIRST + 1]),
  /** Bodies hold consecutive offsets from `first`; a null stands for a message the reader was left out of. */
  history: (a: Answer) => {
    const [epoch, offset, recovered, first, ...bodies] = a.values.slice(FIRST) as [string, number, number, number, ...Array<Uint8Array | null>];
    return { epoch, offset, recovered: recovered === 1, first, bodies };
  },
};
