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
 * of a worker channel is never kept waiting behind them (docs/semantics.md §4.2, §4.6).
 *
 * The broker counts every message it hands over against its channel's
 * capacity until this client settles it (docs/semantics.md §4.10): messages handed to
 * callers are reported taken in the next write, ahead of any other request;
 * a give-back returns *everything* the broker handed on the channel and this
 * client did not take, in order, so bodies of the withdrawn poll still on
 * their way are dropped here (the broker has them back). A message served
 * from what was brought reaches its caller only after the write that says
 * it was taken, so a client killed after application code saw a message
 * never has it handed to another consumer too.
 *
 * Except for a short *linger* (`receiveLinger` ms, as the Redis backend's):
 * after a receive on a channel is served and nobody waits, the channel stays
 * watched by a poll with credit for one message, so that a consumer that
 * receives again soon (send, await, receive: a ping-pong) finds its message
 * already here rather than asking for it. A message it brings goes to a
 * receive made in the same tick, or back to the head at the tick's end (which
 * ends the linger); the poll is withdrawn when the linger ends or the layer
 * closes. A new receive on the channel ends the linger (the channel is wanted
 * again); an aborted one too.
 */
import { ProtocolError } from "../errors.js";
import type { Message } from "../layer.js";
import { decodeMessageView } from "../msgpack.js";
import type { PendingReceive } from "../pending-receive.js";
import { Outgoing } from "./calls.js";
import { MAX_RECEIVE_BATCH, Op } from "./ops.js";

/** A caller of `receive`, waiting for a message its channel's poll brings. */
type Caller = PendingReceive<Message>;

/** A poll answered in full within this many milliseconds of the next receive means the caller receives in a loop. */
const HUNGRY_MS = 1;

export interface Inbox {
  readonly channel: string;
  /** The receive in the broker (or on its way), possibly cancelled. */
  poll: Poll | undefined;
  /** Callers waiting, in call order. */
  held: Caller[];
  /** Messages brought that no caller took yet, as the broker gave them: [body, deadline, priority, …]. */
  buffer: unknown[];
  /** Extra messages the next poll asks for. */
  window: number;
  /** When the last poll was answered in full. */
  answeredAt: number;
  /** Queued for a look once the tick is over. */
  touched: boolean;
  /** Until when (performance.now()) the channel stays watched with nobody waiting; 0 when it is not lingering. */
  lingerUntil: number;
  /** Messages handed to callers that the broker has not been told of yet. */
  taken: number;
  /** In the list of inboxes to report in the next write. */
  reporting: boolean;
}

/** A channel's standing receive in the broker: [Receive, id, channel, credit, 1]. */
export class Poll extends Outgoing {
  /** Cancelled in the broker: it is over once the broker says so; what it still brings goes to callers or back. */
  aborted = false;
  /** Messages it has brought so far (its credit, once written, is frame[3]). */
  brought = 0;
  /** What it still brings was given back already (the broker has it): dropped on arrival. */
  returned = false;

  constructor(
    readonly inbox: Inbox,
    id: number,
  ) {
    super([Op.Receive, id, inbox.channel, 1, 1]);
  }
}

export interface ReceiveHost {
  newId(): number;
  /**
   * Put a poll on the wire (and route its answers here). A `watch` opened
   * after a served receive may leave with the caller's next request rather
   * than in a write of its own, where the host allows it.
   */
  submit(poll: Poll, watch: boolean): void;
  /** Withdraw a poll: one not yet written is dropped; a written one is cancelled in the broker and marked aborted. */
  cancel(poll: Poll): void;
  /** Tell the broker `took` messages of `channel` were taken and all others it handed there come back. */
  giveBack(channel: string, took: number): void;
  /** Some messages were taken: make sure a write goes out soon (it takes the reports first). */
  report(): void;
}

export class Receives {
  private readonly inboxes = new Map<string, Inbox>();
  /** Inboxes to look at once the tick is over. */
  private touched: Inbox[] = [];
  /** Inboxes lingering, looked at when `lingerTimer` fires. */
  private readonly lingering = new Set<Inbox>();
  private lingerTimer: NodeJS.Timeout | undefined = undefined;
  /** Set by takeWaiting (close): no poll is opened any more. */
  private closing = false;
  /** Inboxes with messages taken and not yet reported. */
  private reporting: Inbox[] = [];

  constructor(
    private readonly host: ReceiveHost,
    /** Largest prefetch window; 0 turns prefetching off. */
    private readonly prefetch: number,
    /** Milliseconds a served channel stays watched with nobody waiting; 0 turns lingering off. */
    private readonly linger = 0,
  ) {}

  /** A new caller on `channel`: served from what was brought already, else it waits for its channel's poll (opened if there is none). */
  add(channel: string, caller: Caller): void {
    let inbox = this.inboxes.get(channel);
    if (inbox === undefined) {
      inbox = {
        channel, poll: undefined, held: [], buffer: [], window: 0, answeredAt: -Infinity, touched: false, lingerUntil: 0, taken: 0, reporting: false,
      };
      this.inboxes.set(channel, inbox);
    }
    inbox.lingerUntil = 0; // wanted again
    if (inbox.buffer.length > 0) {
      const body = inbox.buffer.shift();
      inbox.buffer.shift();
      inbox.buffer.shift();
      this.took(inbox);
      // After the write that reports it (queued first), so the broker knows before application code does.
      process.nextTick(settleWith, caller, body);
      if (this.linger > 0 && !this.closing) {
        this.startLinger(inbox);
        // Watch the channel now, so that the poll leaves with what the caller does next (a send, say).
        if (inbox.poll === undefined && inbox.buffer.length === 0) this.open(inbox, true);
      }
      return;
    }
    inbox.held.push(caller);
    if (inbox.poll === undefined) this.open(inbox);
  }

  /** Fills in a poll being written: its credit, and whether it is a watch (nobody waits: it lingers, for one message that arrives). */
  credit(poll: Poll): void {
    const inbox = poll.inbox;
    poll.frame[3] = inbox.held.length === 0 ? 1 : Math.min(MAX_RECEIVE_BATCH, inbox.held.length + inbox.window);
    poll.frame[4] = inbox.held.length === 0 ? 2 : 1;
    poll.frame[5] = Math.min(inbox.held.length, poll.frame[3] as number);
  }

  /**
   * The broker answered `poll`: `answer` is [id, status, body, deadline,
   * priority, …] (no bodies when it was cancelled); `final` when the poll is
   * over (Ok or Cancelled), not when more will follow (Partial).
   */
  answered(poll: Poll, answer: unknown[], final: boolean): void {
    const inbox = poll.inbox;
    if (inbox.poll !== poll) return;
    let served = false;
    for (let i = 2; i < answer.length && !poll.returned; i += 3) {
      poll.brought++;
      const next = inbox.held.shift();
      if (next === undefined) inbox.buffer.push(answer[i], answer[i + 1], answer[i + 2]);
      else {
        this.took(inbox);
        settleWith(next, answer[i]);
        served = true;
      }
    }
    if (served && this.linger > 0 && inbox.held.length === 0) this.startLinger(inbox);
    if (final) {
      inbox.poll = undefined;
      if (answer.length > 2 && !poll.aborted) inbox.answeredAt = performance.now();
      // A watch answered with nothing: the channel holds messages, so lingering would take them ahead of others.
      else if (!poll.aborted && inbox.held.length === 0) inbox.lingerUntil = 0;
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
    if (inbox.held.length === 0) inbox.lingerUntil = 0; // a refused poll is not asked again for nobody
    if (inbox.held.length > 0) this.open(inbox);
    else this.touch(inbox);
  }

  /** `caller` gave up (`tell`: reject its promise now). A poll nobody waits for any more is withdrawn. */
  abort(channel: string, caller: Caller, reason: unknown, tell = true): void {
    const inbox = this.inboxes.get(channel);
    if (inbox === undefined) return;
    const at = inbox.held.indexOf(caller);
    if (at === -1) return;
    inbox.held.splice(at, 1);
    if (inbox.held.length === 0) {
      inbox.lingerUntil = 0; // nothing is kept for a receive that gave up
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
  takeWaiting(): Caller[] {
    this.closing = true;
    this.stopLingering();
    const out: Caller[] = [];
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

  /**
   * This client is flushing the broker: polls bringing messages nobody took
   * are withdrawn now (before the flush), and `afterFlush` hands those
   * messages back once the flush is on its way (the broker drops them: they
   * were flushed).
   */
  discardAhead(): () => void {
    const inboxes = [...this.inboxes.values()].filter((inbox) => inbox.buffer.length > 0);
    for (const inbox of inboxes) if (inbox.held.length === 0) this.withdraw(inbox);
    return () => {
      for (const inbox of inboxes) {
        this.giveBackFrom(inbox);
        this.touch(inbox);
      }
    };
  }

  /** The reports for the next write, channel, took, 0 for each channel (one Requeue frame carries them all); called by the writer. */
  takeReports(): unknown[] {
    const out: unknown[] = [];
    for (const inbox of this.reporting) {
      inbox.reporting = false;
      if (inbox.taken > 0) out.push(inbox.channel, inbox.taken, 0);
      inbox.taken = 0;
    }
    this.reporting = [];
    return out;
  }

  /** The link went down: the broker took back all it had handed this client, so nothing brought may be served or reported. */
  linkLost(): void {
    for (const inbox of this.inboxes.values()) {
      inbox.buffer = [];
      inbox.taken = 0;
      inbox.reporting = false;
      this.touch(inbox);
    }
    this.reporting = [];
  }

  /** Reject every waiting caller (the broker is gone for good, or the layer closes). */
  failAll(reason: unknown): void {
    const inboxes = [...this.inboxes.values()];
    this.inboxes.clear();
    this.stopLingering();
    for (const inbox of inboxes) for (const caller of inbox.held) caller.fail(reason);
  }

  private open(inbox: Inbox, watch = false): void {
    if (this.prefetch > 0 && performance.now() - inbox.answeredAt < HUNGRY_MS) {
      inbox.window = Math.min(this.prefetch, inbox.window * 4 || 4);
    }
    const poll = new Poll(inbox, this.host.newId());
    inbox.poll = poll;
    this.host.submit(poll, watch);
  }

  /** Withdraw the poll of an inbox nobody waits on. */
  private withdraw(inbox: Inbox): void {
    const poll = inbox.poll;
    if (poll === undefined || poll.aborted) return;
    this.host.cancel(poll);
    if (!poll.aborted) inbox.poll = undefined; // not written yet, so it never goes
  }

  /** A message was handed to a caller: the broker is told in the next write. */
  private took(inbox: Inbox): void {
    inbox.taken++;
    if (inbox.reporting) return;
    inbox.reporting = true;
    if (this.reporting.push(inbox) === 1) this.host.report();
  }

  /**
   * Everything the broker handed on the channel and no caller took goes back,
   * in order; what the withdrawn poll still brings is part of it, so it is
   * dropped when it arrives.
   */
  private giveBackFrom(inbox: Inbox): void {
    if (inbox.buffer.length === 0) return;
    this.host.giveBack(inbox.channel, inbox.taken);
    inbox.taken = 0;
    if (inbox.poll !== undefined) inbox.poll.returned = true;
    inbox.buffer = [];
    inbox.window = 0; // the caller was not that hungry after all
  }

  /** A receive on `inbox` was served and nobody waits: the channel stays watched for `linger` ms. */
  private startLinger(inbox: Inbox): void {
    if (this.closing) return;
    inbox.lingerUntil = performance.now() + this.linger;
    this.lingering.add(inbox);
    if (this.lingerTimer === undefined) {
      this.lingerTimer = setTimeout(this.endLingers, this.linger);
      this.lingerTimer.unref();
    }
  }

  /** The timer: inboxes whose linger is over are tidied as at the end of a tick; the timer is set again for the rest. */
  private readonly endLingers = (): void => {
    this.lingerTimer = undefined;
    const now = performance.now();
    let next = Infinity;
    for (const inbox of this.lingering) {
      if (inbox.held.length > 0 || inbox.lingerUntil === 0) {
        this.lingering.delete(inbox);
      } else if (inbox.lingerUntil <= now) {
        this.lingering.delete(inbox);
        inbox.lingerUntil = 0;
        this.idle(inbox, now);
      } else {
        next = Math.min(next, inbox.lingerUntil);
      }
    }
    if (next !== Infinity) {
      this.lingerTimer = setTimeout(this.endLingers, Math.max(1, next - now));
      this.lingerTimer.unref();
    }
  };

  private stopLingering(): void {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    for (const inbox of this.lingering) inbox.lingerUntil = 0;
    this.lingering.clear();
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
    const now = this.linger > 0 ? performance.now() : 0;
    for (const inbox of touched) {
      inbox.touched = false;
      if (inbox.held.length > 0) continue;
      this.idle(inbox, now);
    }
  };

  /**
   * An inbox nobody waits on. Lingering with nothing brought, it keeps a poll
   * with credit for one. Otherwise it withdraws its poll (first, so it brings
   * nothing more), gives back what it holds, and goes once idle: a message
   * brought for nobody is never kept past its tick, since its deadline is in
   * the broker's clock and only the broker can hold it to exact expiry
   * (docs/semantics.md §4.5). That is enough for a ping-pong: the broker answers the send
   * and hands over the message in one write, read in one tick.
   */
  private idle(inbox: Inbox, now: number): void {
    if (inbox.lingerUntil > now && !this.closing && inbox.buffer.length === 0) {
      const poll = inbox.poll;
      if (poll === undefined) {
        this.open(inbox);
      } else if (!poll.aborted && poll.link !== undefined && (poll.frame[3] as number) - poll.brought > 1) {
        this.withdraw(inbox); // credit for more than one: its Cancelled answer brings the inbox back here, to open one that asks for one
      }
      return;
    }
    if (inbox.lingerUntil !== 0) {
      inbox.lingerUntil = 0;
      this.lingering.delete(inbox);
    }
    this.withdraw(inbox);
    this.giveBackFrom(inbox);
    if (inbox.poll === undefined && this.inboxes.get(inbox.channel) === inbox) this.inboxes.delete(inbox.channel);
  }
}

/** Resolve a receive with a body from the broker (or reject it, if the body is not a message). */
function settleWith(caller: Caller, body: unknown): void {
  let message: Message;
  try {
    if (!(body instanceof Uint8Array)) throw new Error("no body");
    message = decodeMessageView(body);
  } catch (err) {
    return caller.fail(new ProtocolError(`the broker answered a receive with a body that is not a message: ${(err as Error).message}`));
  }
  caller.deliver(message);
}
