/**
 * A broker client's receives: the source that feeds its receive buffer
 * (src/client/receive-buffer.ts, which keeps callers in call order, the window, the
 * linger and the give-back). The broker holds at most one receive per channel
 * for this client, a *poll*, which keeps one client's receives in FIFO order
 * even when a poll is cancelled in flight (what it still brings goes to the
 * next caller in line, or back to the broker's head).
 *
 * A poll is a standing receive: it stays in the broker, handing over messages
 * as they arrive, until it has brought as many as it asked for (its credit):
 * the callers waiting plus the channel's window, so a consumer looping on
 * `receive` gets its next messages without a request for each one (measured:
 * a quarter of the frames and most of the broker's work per message in the
 * `concurrent` bench). A lingering channel keeps a poll with credit for one
 * (a *watch*); a message it brings for nobody goes back at the tick's end,
 * since its deadline is in the broker's clock and only the broker can hold it
 * to exact expiry (docs/semantics.md §4.5). That is enough for a ping-pong:
 * the broker answers the send and hands over the message in one write, read
 * in one tick.
 *
 * The broker counts every message it hands over against its channel's
 * capacity until this client settles it (docs/semantics.md §4.10): messages
 * handed to callers are reported taken in the next write, ahead of any other
 * request; a give-back returns *everything* the broker handed on the channel
 * and this client did not take, in order, so bodies of the withdrawn poll
 * still on their way are dropped here (the broker has them back). A message
 * served from what was brought reaches its caller only after the write that
 * says it was taken, so a client killed after application code saw a message
 * never has it handed to another consumer too.
 */
import { InvalidMessageError, ProtocolError } from "../errors.js";
import type { Message } from "../layer.js";
import { asMessage, decodeMessageView } from "../dependencies/msgpack.js";
import { type Caller, type Inbox, ReceiveBuffer, type ReceiveSource } from "../client/receive-buffer.js";
import type { WaitHandle } from "../engine/waiters.js";
import { Outgoing } from "./calls.js";
import type { ReceiveRequest, Settle } from "./decode.js";
import { MAX_RECEIVE_BATCH, Op, ReceiveMode } from "./ops.js";

/** What the broker client keeps of a channel besides its buffer. */
export interface PollState {
  /** The receive in the broker (or on its way), possibly cancelled. */
  poll: Poll | undefined;
  /** Messages handed to callers that the broker has not been told of yet. */
  taken: number;
  /** In the list of inboxes to report in the next write. */
  reporting: boolean;
}

/** A broker client's inbox: bodies as the broker sent them. */
type PollInbox = Inbox<unknown, PollState>;

/** A channel's standing receive in the broker, its credit (`max`) filled in when it is written. */
export class Poll extends Outgoing<ReceiveRequest> {
  /** Cancelled in the broker: it is over once the broker says so; what it still brings goes to callers or back. */
  aborted = false;
  /** Messages it has brought so far (its credit, once written, is `request.max`). */
  brought = 0;
  /** What it still brings was given back already (the broker has it): dropped on arrival. */
  returned = false;

  constructor(
    readonly inbox: PollInbox,
    id: number,
  ) {
    super({ op: Op.Receive, id, channel: inbox.channel, max: 1, mode: ReceiveMode.Standing, callers: 1 });
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

export class Receives implements ReceiveSource<unknown, PollState> {
  private readonly buffer: ReceiveBuffer<unknown, PollState>;
  /** Set by takeWaiting (close): no poll is opened any more. */
  private closing = false;
  /** Inboxes with messages taken and not yet reported. */
  private reporting: PollInbox[] = [];

  constructor(
    private readonly host: ReceiveHost,
    /** Largest prefetch window; 0 turns prefetching off. */
    prefetch: number,
    /** Milliseconds a served channel stays watched with nobody waiting; 0 turns lingering off. */
    linger = 0,
  ) {
    this.buffer = new ReceiveBuffer(this, { maxWindow: prefetch, linger, keepWhileLingering: false });
  }

  /** A new caller on `channel`; the handle takes it back (undefined: it was served at once). */
  add(channel: string, caller: Caller): WaitHandle | undefined {
    return this.buffer.add(channel, caller);
  }

  /** Fills in a poll being written: its credit, and whether it is a watch (nobody waits: it lingers, for one message that arrives). */
  credit(poll: Poll): void {
    const inbox = poll.inbox;
    const waiting = inbox.callers.size;
    const request = poll.request;
    request.max = waiting === 0 ? 1 : Math.min(MAX_RECEIVE_BATCH, waiting + inbox.window);
    request.mode = waiting === 0 ? ReceiveMode.Watch : ReceiveMode.Standing;
    request.callers = Math.min(waiting, request.max);
  }

  /**
   * The broker answered `poll` with `bodies` (none when it was cancelled);
   * `final` when the poll is over (Ok or Cancelled), not when more will
   * follow (Partial).
   */
  onAnswer(poll: Poll, bodies: readonly unknown[], final: boolean): void {
    const inbox = poll.inbox;
    if (inbox.own.poll !== poll) return;
    for (let i = 0; i < bodies.length && !poll.returned; i++) {
      poll.brought++;
      this.buffer.arrive(inbox, bodies[i]);
    }
    if (!final) return;
    inbox.own.poll = undefined;
    // A watch answered with nothing: the channel holds messages, so lingering would take them ahead of others.
    if (bodies.length === 0 && !poll.aborted && inbox.callers.size === 0) this.buffer.endLinger(inbox);
    if (inbox.callers.size > 0) this.openPoll(inbox);
    else this.buffer.touch(inbox);
  }

  /** The broker refused `poll`: the first caller in line hears why, the others get a new poll. */
  onFailure(poll: Poll, reason: unknown): void {
    const inbox = poll.inbox;
    if (inbox.own.poll !== poll) return;
    inbox.own.poll = undefined;
    if (!poll.aborted) this.buffer.failFirst(inbox, reason);
    if (inbox.callers.size > 0) return this.openPoll(inbox);
    this.buffer.endLinger(inbox); // a refused poll is not asked again for nobody
    this.buffer.touch(inbox);
  }

  /** The link went down with `poll` written: true when it should be sent again on the next link. */
  onLinkLost(poll: Poll): boolean {
    const inbox = poll.inbox;
    if (inbox.own.poll !== poll) return false;
    if (!poll.aborted && inbox.callers.size > 0) return true;
    inbox.own.poll = undefined;
    if (inbox.callers.size > 0) this.openPoll(inbox);
    return false;
  }

  /** For close: take every waiting caller out (they are told by the caller of this) and withdraw every poll. */
  takeWaiting(): Caller[] {
    this.closing = true;
    return this.buffer.close();
  }

  /** Hand every message brought but not taken back to the broker. */
  giveBackAll(): void {
    this.buffer.giveBackAll();
  }

  /**
   * This client is flushing the broker: polls bringing messages nobody took
   * are withdrawn now (before the flush), and `afterFlush` hands those
   * messages back once the flush is on its way (the broker drops them: they
   * were flushed).
   */
  discardAhead(): () => void {
    const inboxes = [...this.buffer.inboxes()].filter((inbox) => inbox.ahead.length > 0);
    for (const inbox of inboxes) if (inbox.callers.size === 0) this.stop(inbox);
    return () => {
      for (const inbox of inboxes) {
        if (inbox.ahead.length > 0) this.giveBack(inbox);
        this.buffer.dropAhead(inbox);
      }
    };
  }

  /** The reports for the next write, one per channel (one Requeue frame carries them all); called by the writer. */
  takeReports(): Settle[] {
    const out: Settle[] = [];
    for (const inbox of this.reporting) {
      const own = inbox.own;
      own.reporting = false;
      if (own.taken > 0) out.push({ channel: inbox.channel, took: own.taken, rest: false });
      own.taken = 0;
    }
    this.reporting = [];
    return out;
  }

  /** The link went down: the broker took back all it had handed this client, so nothing brought may be served or reported. */
  linkLost(): void {
    for (const inbox of this.buffer.inboxes()) {
      inbox.own.taken = 0;
      inbox.own.reporting = false;
      this.buffer.dropAhead(inbox);
    }
    this.reporting = [];
  }

  /** Reject every waiting caller (the broker is gone for good, or the layer closes). */
  failAll(reason: unknown): void {
    this.buffer.failAll(reason);
  }

  // The source's side of the buffer (src/client/receive-buffer.ts).

  create(): PollState {
    return { poll: undefined, taken: 0, reporting: false };
  }

  wait(inbox: PollInbox): void {
    if (inbox.own.poll === undefined) this.openPoll(inbox);
  }

  onLeave(): void {}

  /** Withdraw the poll of an inbox nobody waits on. */
  stop(inbox: PollInbox): void {
    const poll = inbox.own.poll;
    if (poll === undefined || poll.aborted) return;
    this.host.cancel(poll);
    if (!poll.aborted) inbox.own.poll = undefined; // not written yet, so it never goes
  }

  /**
   * Keep a poll with credit for one: right after a served receive it is
   * opened as a watch, which may leave with the caller's next request; at
   * the tick's end one asking for more is withdrawn (its Cancelled answer
   * brings the inbox back here, to open one that asks for one).
   */
  linger(inbox: PollInbox, tickOver: boolean): void {
    if (this.closing) return;
    const poll = inbox.own.poll;
    if (poll === undefined) this.openPoll(inbox, !tickOver);
    else if (tickOver && !poll.aborted && poll.link !== undefined && poll.request.max - poll.brought > 1) this.stop(inbox);
  }

  /**
   * Everything the broker handed on the channel and no caller took goes back,
   * in order; what the withdrawn poll still brings is part of it, so it is
   * dropped when it arrives.
   */
  giveBack(inbox: PollInbox): void {
    this.host.giveBack(inbox.channel, inbox.own.taken);
    inbox.own.taken = 0;
    if (inbox.own.poll !== undefined) inbox.own.poll.returned = true;
  }

  /**
   * Decode a body from the broker. The broker never looks inside a body, so a
   * client may have sent bytes that are no message: that receive fails with an
   * InvalidMessageError (the message was taken: it is dropped) and the layer
   * goes on, as a consumer does (src/consumer/consumer.ts).
   */
  open(body: unknown): Message {
    if (!(body instanceof Uint8Array)) throw new ProtocolError("the broker answered a receive without a body");
    try {
      return asMessage(decodeMessageView(body));
    } catch (err) {
      throw new InvalidMessageError(`a body received was not a message and is dropped: ${(err as Error).message}`);
    }
  }

  /** Bodies carry the broker's deadline, in its clock: it never hands over one that expired, and nothing is held past its tick. */
  expired(): boolean {
    return false;
  }

  /** A message was handed to a caller: the broker is told in the next write. */
  onTake(inbox: PollInbox): void {
    const own = inbox.own;
    own.taken++;
    if (own.reporting) return;
    own.reporting = true;
    if (this.reporting.push(inbox) === 1) this.host.report();
  }

  busy(inbox: PollInbox): boolean {
    return inbox.own.poll !== undefined;
  }

  private openPoll(inbox: PollInbox, watch = false): void {
    const poll = new Poll(inbox, this.host.newId());
    inbox.own.poll = poll;
    this.host.submit(poll, watch);
  }
}
