/**
 * A client's receives, per channel. Callers of `receive` wait here in call
 * order; the broker holds at most one receive per channel for this client, a
 * *poll*, which keeps one client's receives in FIFO order even when a poll is
 * cancelled in flight (what it still brings goes to the next caller in line,
 * or back to the broker's head).
 *
 * A poll is a standing receive: it stays in the broker, handing over messages
 * as they arrive, until it has brought as many as it asked for (its credit).
 * The credit is the callers waiting plus a prefetch window that grows while
 * the callers receive in a tight loop (a poll answered in full, then at once
 * the next receive), so a consumer looping on `receive` gets its next
 * messages without a request for each one (measured: a quarter of the frames
 * and most of the broker's work per message in the `concurrent` bench).
 *
 * Nothing is kept from a channel nobody waits on: once a tick ends with no
 * caller waiting, the poll is cancelled and messages it brought that nobody
 * claimed go back to the head of the broker's channel, so another consumer
 * of a worker channel is never kept waiting behind them (SPEC §4.2, §4.6).
 */
import { ProtocolError } from "../errors.js";
import type { Message } from "../layer.js";
import { decodeMessageView } from "../msgpack.js";
import { Outgoing, type Receiver } from "./calls.js";
import { MAX_RECEIVE_BATCH, Op } from "./ops.js";

/** A poll answered in full within this many milliseconds of the next receive means the caller receives in a loop. */
const HUNGRY_MS = 1;

export interface Inbox {
  readonly channel: string;
  /** The receive in the broker (or on its way), possibly cancelled. */
  poll: Poll | undefined;
  /** Callers waiting, in call order. */
  held: Receiver[];
  /** Messages brought that no caller took yet, as the broker gave them: [body, deadline, priority, …]. */
  buffer: unknown[];
  /** Extra messages the next poll asks for. */
  window: number;
  /** When the last poll was answered in full. */
  answeredAt: number;
  /** Queued for a look once the tick is over. */
  touched: boolean;
}

/** A channel's standing receive in the broker: [Receive, id, channel, credit, 1]. */
export class Poll extends Outgoing {
  /** Cancelled in the broker: it is over once the broker says so; what it still brings goes to callers or back. */
  aborted = false;

  constructor(
    readonly inbox: Inbox,
    id: number,
  ) {
    super([Op.Receive, id, inbox.channel, 1, 1]);
  }
}

export interface ReceiveHost {
  newId(): number;
  /** Put a poll on the wire (and route its answers here). */
  submit(poll: Poll): void;
  /** Withdraw a poll: one not yet written is dropped; a written one is cancelled in the broker and marked aborted. */
  cancel(poll: Poll): void;
  /** Put a message back at the head of its channel in the broker. */
  requeue(channel: string, body: unknown, deadline: unknown, priority: unknown): void;
}

export class Receives {
  private readonly inboxes = new Map<string, Inbox>();
  /** Inboxes to look at once the tick is over. */
  private touched: Inbox[] = [];

  constructor(
    private readonly host: ReceiveHost,
    /** Largest prefetch window; 0 turns prefetching off. */
    private readonly prefetch: number,
  ) {}

  /** A new caller: served from what was brought already, else it waits for its channel's poll (opened if there is none). */
  add(caller: Receiver): void {
    const channel = caller.channel;
    let inbox = this.inboxes.get(channel);
    if (inbox === undefined) {
      inbox = { channel, poll: undefined, held: [], buffer: [], window: 0, answeredAt: -Infinity, touched: false };
      this.inboxes.set(channel, inbox);
    }
    if (inbox.buffer.length > 0) {
      const body = inbox.buffer.shift();
      inbox.buffer.shift();
      inbox.buffer.shift();
      return settleWith(caller, body);
    }
    inbox.held.push(caller);
    if (inbox.poll === undefined) this.open(inbox);
  }

  /** How many messages a poll being written asks for. */
  credit(poll: Poll): number {
    const inbox = poll.inbox;
    return Math.min(MAX_RECEIVE_BATCH, Math.max(1, inbox.held.length) + inbox.window);
  }

  /**
   * The broker answered `poll`: `answer` is [id, status, body, deadline,
   * priority, …] (no bodies when it was cancelled); `final` when the poll is
   * over (Ok or Cancelled), not when more will follow (Partial).
   */
  answered(poll: Poll, answer: unknown[], final: boolean): void {
    const inbox = poll.inbox;
    if (inbox.poll !== poll) return;
    for (let i = 2; i < answer.length; i += 3) {
      const next = inbox.held.shift();
      if (next === undefined) inbox.buffer.push(answer[i], answer[i + 1], answer[i + 2]);
      else settleWith(next, answer[i]);
    }
    if (final) {
      inbox.poll = undefined;
      if (answer.length > 2 && !poll.aborted) inbox.answeredAt = performance.now();
      if (inbox.held.length > 0) this.open(inbox);
    }
    if (inbox.held.length === 0) this.touch(inbox);
  }

  /** The broker refused `poll`: the first caller in line hears why, the others get a new poll. */
  failed(poll: Poll, reason: unknown): void {
    const inbox = poll.inbox;
    if (inbox.poll !== poll) return;
    inbox.poll = undefined;
    if (!poll.aborted) inbox.held.shift()?.fail(reason);
    if (inbox.held.length > 0) this.open(inbox);
    else this.touch(inbox);
  }

  /** `caller` gave up (`tell`: reject its promise now). A poll nobody waits for any more is withdrawn. */
  abort(caller: Receiver, reason: unknown, tell = true): void {
    const inbox = this.inboxes.get(caller.channel);
    if (inbox === undefined) return;
    const at = inbox.held.indexOf(caller);
    if (at === -1) return;
    inbox.held.splice(at, 1);
    if (inbox.held.length === 0) {
      this.withdraw(inbox);
      this.touch(inbox);
    }
    if (tell) caller.fail(reason);
  }

  /** The link went down with `poll` written: true when it should be sent again on the next link. */
  lost(poll: Poll): boolean {
    const inbox = poll.inbox;
    if (inbox.poll !== poll) return false;
    if (!poll.aborted && inbox.held.length > 0) return true;
    inbox.poll = undefined;
    if (inbox.held.length > 0) this.open(inbox);
    return false;
  }

  /** For close: take every waiting caller out (they are told by the caller of this) and withdraw every poll. */
  takeWaiting(): Receiver[] {
    const out: Receiver[] = [];
    for (const inbox of this.inboxes.values()) {
      out.push(...inbox.held);
      inbox.held = [];
      this.withdraw(inbox);
    }
    return out;
  }

  /** Hand every message brought but not taken back to the broker. */
  giveBack(): void {
    for (const inbox of this.inboxes.values()) this.giveBackFrom(inbox);
  }

  /** Drop every message brought but not taken (this client is flushing the broker: they would come back after it). */
  discardAhead(): void {
    for (const inbox of this.inboxes.values()) inbox.buffer = [];
  }

  /** Reject every waiting caller (the broker is gone for good, or the layer closes). */
  failAll(reason: unknown): void {
    const inboxes = [...this.inboxes.values()];
    this.inboxes.clear();
    for (const inbox of inboxes) for (const caller of inbox.held) caller.fail(reason);
  }

  private open(inbox: Inbox): void {
    if (this.prefetch > 0 && performance.now() - inbox.answeredAt < HUNGRY_MS) {
      inbox.window = Math.min(this.prefetch, inbox.window * 4 || 4);
    }
    const poll = new Poll(inbox, this.host.newId());
    inbox.poll = poll;
    this.host.submit(poll);
  }

  /** Withdraw the poll of an inbox nobody waits on. */
  private withdraw(inbox: Inbox): void {
    const poll = inbox.poll;
    if (poll === undefined || poll.aborted) return;
    this.host.cancel(poll);
    if (!poll.aborted) inbox.poll = undefined; // not written yet, so it never goes
  }

  /** Newest first, so that the oldest ends at the head. */
  private giveBackFrom(inbox: Inbox): void {
    if (inbox.buffer.length === 0) return;
    for (let i = inbox.buffer.length - 3; i >= 0; i -= 3) {
      this.host.requeue(inbox.channel, inbox.buffer[i], inbox.buffer[i + 1], inbox.buffer[i + 2]);
    }
    inbox.buffer = [];
    inbox.window = 0; // the caller was not that hungry after all
  }

  private touch(inbox: Inbox): void {
    if (inbox.touched) return;
    inbox.touched = true;
    if (this.touched.push(inbox) === 1) setImmediate(this.tidy);
  }

  /** After the tick: an inbox nobody waits on withdraws its poll (first, so it brings nothing more), gives back what it holds, and goes once idle. */
  private readonly tidy = (): void => {
    const touched = this.touched;
    this.touched = [];
    for (const inbox of touched) {
      inbox.touched = false;
      if (inbox.held.length > 0) continue;
      this.withdraw(inbox);
      this.giveBackFrom(inbox);
      if (inbox.poll === undefined && this.inboxes.get(inbox.channel) === inbox) this.inboxes.delete(inbox.channel);
    }
  };
}

/** Resolve a receive with a body from the broker (or reject it, if the body is not a message). */
function settleWith(caller: Receiver, body: unknown): void {
  let message: Message;
  try {
    if (!(body instanceof Uint8Array)) throw new Error("no body");
    message = decodeMessageView(body);
  } catch (err) {
    return caller.fail(new ProtocolError(`the broker answered a receive with a body that is not a message: ${(err as Error).message}`));
  }
  caller.fulfil(message);
}
