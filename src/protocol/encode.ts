/**
 * Typed values written as frames (the layouts are in ops.ts; decode.ts reads
 * them back): the client's requests and the broker's answers. Optional fields
 * the sender leaves unset are left off the end, so a frame is the one an older
 * peer expects unless it uses something new.
 */
import type { HistoryRead } from "../engine/history.js";
import { errorToWire } from "./errors.js";
import type { Request } from "./decode.js";
import { CONNECTION_ID, Op, Status } from "./ops.js";

/** `request` as its frame. */
export function encodeRequest(r: Request): unknown[] {
  switch (r.op) {
    case Op.Hello:
      return r.features === undefined
        ? [Op.Hello, r.id, r.version, r.instanceId, r.token ?? null, r.secret]
        : [Op.Hello, r.id, r.version, r.instanceId, r.token ?? null, r.secret, r.features];
    case Op.Send:
      return r.priority === undefined ? [Op.Send, r.id, r.channel, r.body] : [Op.Send, r.id, r.channel, r.body, r.priority];
    case Op.Receive:
      return [Op.Receive, r.id, r.channel, r.max, r.mode, r.callers];
    case Op.Requeue: {
      const frame: unknown[] = [Op.Requeue, r.id];
      for (const s of r.settles) frame.push(s.channel, s.took, s.rest ? 1 : 0);
      return frame;
    }
    case Op.GroupAdd:
      if (r.presence !== undefined) return [Op.GroupAdd, r.id, r.group, r.channel, r.expiry ?? null, r.presence];
      return r.expiry === undefined ? [Op.GroupAdd, r.id, r.group, r.channel] : [Op.GroupAdd, r.id, r.group, r.channel, r.expiry];
    case Op.GroupDiscard:
      return [Op.GroupDiscard, r.id, r.group, r.channel];
    case Op.GroupSend:
      if (r.except !== undefined) return [Op.GroupSend, r.id, r.group, r.body, r.priority ?? null, [...r.except]];
      return r.priority === undefined ? [Op.GroupSend, r.id, r.group, r.body] : [Op.GroupSend, r.id, r.group, r.body, r.priority];
    case Op.Stats:
      return r.top === undefined ? [Op.Stats, r.id] : [Op.Stats, r.id, r.top];
    case Op.CacheGet:
      return [Op.CacheGet, r.id, r.key];
    case Op.CacheSet:
      return [Op.CacheSet, r.id, r.key, r.body, r.ttlMs];
    case Op.GroupHistory: {
      const frame = [Op.GroupHistory, r.id, r.group, r.since?.epoch ?? null, r.since?.offset ?? 0, r.limit];
      if (r.reader !== undefined) frame.push(r.reader);
      return frame;
    }
    case Op.Presence:
      return r.after < 0 ? [Op.Presence, r.id, r.group, r.limit] : [Op.Presence, r.id, r.group, r.limit, r.after];
    case Op.PresenceCount:
      return [Op.PresenceCount, r.id, r.group];
    case Op.Cancel:
    case Op.Flush:
    case Op.Ping:
    case Op.Depart:
      return [r.op, r.id];
  }
}

/** Put the token the IPC parent gave into a hello already encoded (the child learns it only then). */
export function setHelloToken(frame: unknown[], token: string | null): void {
  frame[4] = token;
}

/** Answers, as the broker writes them. */
export const answer = {
  /** Done, with nothing to say. */
  ok: (id: number): unknown[] => [id, Status.Ok],
  /** Done; `values` are what the op answers with. */
  with: (id: number, ...values: unknown[]): unknown[] => [id, Status.Ok, ...values],
  error: (id: number, err: unknown): unknown[] => [id, Status.Error, ...errorToWire(err)],
  cancelled: (id: number): unknown[] => [id, Status.Cancelled],
  /** A frame the connection cannot go on after: the client starts afresh. */
  fatal: (message: string): unknown[] => [CONNECTION_ID, Status.Error, "ERR_PROTOCOL", message],
  /**
   * A history read's answer and its estimated size: bodies of consecutive
   * offsets from `first`, a null in place of each message the reader was left
   * out of (its `except`).
   */
  history: (id: number, read: HistoryRead<Buffer>): { frame: unknown[]; bytes: number } => {
    const first = read.messages[0]?.position.offset ?? read.position.offset + 1;
    const frame: unknown[] = [id, Status.Ok, read.position.epoch, read.position.offset, read.recovered ? 1 : 0, first];
    const head = frame.length;
    let bytes = 64;
    for (const { position, message } of read.messages) {
      while (first + frame.length - head < position.offset) frame.push(null);
      frame.push(message);
      bytes += message.length + 8;
    }
    return { frame, bytes };
  },
  /** A receive's answer with one message; `more` (Partial) when the receive stands for more. */
  message: (id: number, more: boolean, body: Buffer, deadline: number, priority: number): unknown[] => [
    id,
    more ? Status.Partial : Status.Ok,
    body,
    deadline,
    priority,
  ],
  /**
   * Message answer `frame`, which answered receive `id` with `status`, made a
   * bundle in place: [id, status, body, deadline, priority] becomes
   * [0, Bundle, body, deadline, priority, id, status].
   */
  bundle: (frame: unknown[], id: number, status: number): void => {
    frame[0] = CONNECTION_ID;
    frame[1] = Status.Bundle;
    frame.push(id, status);
  },
  /** Bundle `frame` answers receive `id` too, with `status`. */
  alsoAnswers: (frame: unknown[], id: number, status: number): void => {
    frame.push(id, status);
  },
};

/** A receive's answer with several messages, built as they are taken. */
export class MessagesAnswer {
  readonly frame: unknown[];
  count = 0;

  constructor(id: number) {
    this.frame = [id, Status.Ok];
  }

  add(body: Buffer, deadline: number, priority: number): void {
    this.frame.push(body, deadline, priority);
    this.count++;
  }

  /** More answers follow: the receive stands. */
  partial(): void {
    this.frame[1] = Status.Partial;
  }
}
