/**
 * The one receive buffer of the remote clients (the broker's, src/protocol/,
 * and Redis', src/redis/): per channel, the callers of `receive` waiting in
 * call order and the messages brought ahead of them, with three rules kept
 * here and nowhere else. Where messages come from and where they go back is
 * the backend's *source* (a broker poll, a Redis pop).
 *
 * - **Window.** A fetch asks for the callers waiting plus the channel's
 *   window. The window grows (0, 4, 16, 64…, up to `maxWindow`) when the
 *   channel is *hungry*: a receive finds nothing ahead in the same turn of
 *   the event loop in which its channel's callers were all served, or less
 *   than `HUNGRY_MS` after it, which is a consumer receiving in a loop. The
 *   turn serves a client handed thousands of messages at once (a group send
 *   to its members): it serves them all before any caller runs again, and a
 *   caller coming back at the end of that, past the clock's millisecond, is
 *   as hungry as the first. The clock serves a caller that awaits a round
 *   trip before it receives again (a send, then a receive: pingpong), which
 *   comes back in a later turn. It falls back to 0 when more than one
 *   message goes back unused (one back says nothing: it is what a linger
 *   brings).
 * - **Give-back.** What was brought ahead and nobody took by the end of the
 *   tick goes back to the source, oldest first, so a worker channel's other
 *   consumers never wait behind it (docs/semantics.md §4.6, §4.10).
 * - **Linger.** After a receive is served and nobody waits, the channel stays
 *   watched for `linger` ms (one timer for every channel), so a consumer that
 *   receives again soon (send, await, receive: a ping-pong) finds its message
 *   on its way. A message it brings for nobody goes back at the tick's end and
 *   ends the linger, unless the source can hold it to exact expiry itself
 *   (`keepWhileLingering`: Redis' opt-in read-ahead, whose scores are the
 *   senders' clocks); then one is kept until the linger ends.
 *
 * A message served from what is held ahead reaches its caller in a later
 * tick than the source heard it was taken (`onTake`), so whatever the source
 * tells its server about it goes first (docs/broker.md "Read-ahead and
 * capacity").
 */
import type { Message } from "../layer.js";
import { WaiterList, type WaitHandle } from "../engine/waiters.js";
import type { PendingReceive } from "./pending-receive.js";

/** A caller of `receive`, waiting for a message its channel's source brings. */
export type Caller = PendingReceive<Message>;

/** A channel whose callers were all served this recently, and which is asked again with nothing ahead, is hungry. */
const HUNGRY_MS = 1;

/** One channel's receive state; `own` is the source's (a broker poll, say). */
export class Inbox<Item, Own> {
  /** Callers waiting, in call order. */
  readonly callers = new WaiterList<Message, Caller>();
  /** Messages brought that no caller took yet, oldest first. */
  ahead: Item[] = [];
  /** Extra messages a fetch asks for. */
  window = 0;
  /** The channel's callers were all served in this turn (cleared when the turn's touched inboxes are tidied). */
  served = false;
  /** When the channel's callers were last all served (performance.now(); read only with a window). */
  servedAt = -Infinity;
  /** Until when (performance.now()) the channel stays watched with nobody waiting; 0 when it is not lingering. */
  lingerUntil = 0;
  /** Queued for a look once the tick is over. */
  touched = false;

  constructor(
    readonly channel: string,
    readonly own: Own,
  ) {}
}

/** Where a buffer's messages come from and go back to: one per backend. */
export interface ReceiveSource<Item, Own> {
  /** The source's state of a new inbox. */
  create(channel: string): Own;
  /** A caller now waits on `inbox` and nothing was ahead: see that messages come (callers + window). */
  wait(inbox: Inbox<Item, Own>): void;
  /** A caller stopped waiting: `served` with a message, or it gave up. */
  onLeave(inbox: Inbox<Item, Own>, served: boolean): void;
  /** Nobody waits and the channel does not linger: stop bringing messages (what is on its way arrives, and goes back). */
  stop(inbox: Inbox<Item, Own>): void;
  /**
   * The channel lingers with nobody waiting and nothing ahead: keep it
   * watched for one message. `tickOver`: said at the end of a tick (a fetch
   * still asking for more than one may be withdrawn), rather than at once
   * after a caller took the last message held ahead.
   */
  linger(inbox: Inbox<Item, Own>, tickOver: boolean): void;
  /** Messages brought and not taken go back, oldest first (`items` is never empty). */
  giveBack(inbox: Inbox<Item, Own>, items: Item[]): void;
  /** The message an item holds; throws when it is not one (its caller fails with that error). */
  open(item: Item): Message;
  /** Whether an item held ahead expired (it is dropped, not served); arrivals are never expired. */
  expired(item: Item): boolean;
  /** A message of `inbox` goes to a caller. */
  onTake(inbox: Inbox<Item, Own>): void;
  /** Whether messages may still arrive for `inbox` (a request in flight): it is kept until they did. */
  busy(inbox: Inbox<Item, Own>): boolean;
}

export interface ReceiveBufferOptions {
  /** Largest window; 0 turns read-ahead off. */
  maxWindow: number;
  /** Milliseconds a served channel stays watched with nobody waiting; 0 turns lingering off. */
  linger: number;
  /** A lingering channel keeps one message brought for nobody past its tick (see above). */
  keepWhileLingering: boolean;
}

export class ReceiveBuffer<Item, Own> {
  private readonly byChannel = new Map<string, Inbox<Item, Own>>();
  /** Inboxes to look at once the tick is over. */
  private touched: Array<Inbox<Item, Own>> = [];
  /** Inboxes lingering, looked at when `lingerTimer` fires. */
  private readonly lingering = new Set<Inbox<Item, Own>>();
  private lingerTimer: NodeJS.Timeout | undefined = undefined;
  /** Set by close: nothing lingers and nothing is kept any more. */
  private closing = false;

  constructor(
    private readonly source: ReceiveSource<Item, Own>,
    private readonly options: ReceiveBufferOptions,
  ) {}

  get(channel: string): Inbox<Item, Own> | undefined {
    return this.byChannel.get(channel);
  }

  inboxes(): IterableIterator<Inbox<Item, Own>> {
    return this.byChannel.values();
  }

  /** Callers waiting on `channel`. */
  waiting(channel: string): number {
    return this.byChannel.get(channel)?.callers.size ?? 0;
  }

  /** Messages held ahead, over every channel (walks them: for stats, not hot paths). */
  get heldAhead(): number {
    let n = 0;
    for (const inbox of this.byChannel.values()) n += inbox.ahead.length;
    return n;
  }

  /** The inbox of `channel`, made if there is none. */
  inbox(channel: string): Inbox<Item, Own> {
    let inbox = this.byChannel.get(channel);
    if (inbox === undefined) {
      inbox = new Inbox(channel, this.source.create(channel));
      inbox.callers.onCancel = () => this.gaveUp(inbox!);
      this.byChannel.set(channel, inbox);
    }
    return inbox;
  }

  /**
   * A new caller on `channel`: served from what is held ahead (undefined is
   * returned), else it waits for the source; the handle takes it back
   * (`cancel()` says whether it was still waiting).
   */
  add(channel: string, caller: Caller): WaitHandle | undefined {
    const inbox = this.inbox(channel);
    inbox.lingerUntil = 0; // wanted again
    while (inbox.ahead.length > 0) {
      const item = inbox.ahead.shift()!;
      if (this.source.expired(item)) continue;
      this.source.onTake(inbox);
      process.nextTick(hand, this.source, caller, item);
      if (inbox.ahead.length === 0) {
        this.markServed(inbox);
        if (this.options.linger > 0 && !this.closing) {
          this.startLinger(inbox);
          this.source.linger(inbox, false);
        }
      }
      this.touch(inbox);
      return undefined;
    }
    // Once per fetch: the first caller to wait decides whether the channel is hungry.
    if (this.options.maxWindow > 0 && inbox.callers.size === 0 && (inbox.served || performance.now() - inbox.servedAt < HUNGRY_MS)) {
      inbox.window = Math.min(this.options.maxWindow, inbox.window * 4 || 4);
    }
    const handle = inbox.callers.push(caller);
    this.source.wait(inbox);
    return handle;
  }

  /**
   * A message arrived for `inbox`: to its first caller, else held ahead until
   * the tick's end. Returns whether it was held.
   */
  arrive(inbox: Inbox<Item, Own>, item: Item): boolean {
    const caller = inbox.callers.shift();
    if (caller === undefined) {
      inbox.ahead.push(item);
      this.touch(inbox);
      return true;
    }
    this.source.onLeave(inbox, true);
    this.source.onTake(inbox);
    hand(this.source, caller, item);
    if (inbox.callers.size === 0) {
      this.markServed(inbox);
      if (this.options.linger > 0 && !this.closing) this.startLinger(inbox);
      this.touch(inbox);
    }
    return false;
  }

  /** The first caller waiting on `channel`, taken out to be served with a message the buffer did not bring. */
  take(channel: string): Caller | undefined {
    const inbox = this.byChannel.get(channel);
    const caller = inbox?.callers.shift();
    if (caller === undefined) return undefined;
    this.source.onLeave(inbox!, true);
    if (inbox!.callers.size === 0) this.touch(inbox!);
    return caller;
  }

  /** The source refused what `inbox` asked for: its first caller hears why. */
  failFirst(inbox: Inbox<Item, Own>, reason: unknown): void {
    const caller = inbox.callers.shift();
    if (caller === undefined) return;
    this.source.onLeave(inbox, false);
    caller.fail(reason);
  }

  /** Every caller waiting on `channel` hears `reason`. */
  failWaiting(channel: string, reason: unknown): void {
    for (let caller = this.take(channel); caller; caller = this.take(channel)) caller.fail(reason);
  }

  /** A lingering channel's watch came back empty-handed: the channel holds messages, so lingering would take them ahead of others. */
  endLinger(inbox: Inbox<Item, Own>): void {
    if (inbox.lingerUntil === 0) return;
    inbox.lingerUntil = 0;
    this.lingering.delete(inbox);
  }

  /** Hand every message held ahead back to the source. */
  giveBackAll(): void {
    for (const inbox of this.byChannel.values()) this.giveBack(inbox, inbox.ahead.length);
  }

  /** Forget the messages held ahead of `inbox` without giving them back (the source took them back itself). */
  dropAhead(inbox: Inbox<Item, Own>): void {
    inbox.ahead = [];
    this.touch(inbox);
  }

  /**
   * For close: nothing lingers or is kept any more, every waiting caller is
   * taken out (returned, for the caller of this to tell) and every channel's
   * source stopped; what is held ahead goes back at the tick's end.
   */
  close(): Caller[] {
    this.closing = true;
    this.stopLingering();
    const out: Caller[] = [];
    for (const inbox of this.byChannel.values()) {
      for (let caller = inbox.callers.shift(); caller; caller = inbox.callers.shift()) {
        this.source.onLeave(inbox, false);
        out.push(caller);
      }
      this.touch(inbox);
      this.source.stop(inbox);
    }
    return out;
  }

  /** Reject every waiting caller and forget every channel (the source is gone for good). */
  failAll(reason: unknown): void {
    const inboxes = [...this.byChannel.values()];
    this.byChannel.clear();
    this.stopLingering();
    for (const inbox of inboxes) for (let c = inbox.callers.shift(); c; c = inbox.callers.shift()) c.fail(reason);
  }

  /** `touch` for the source: the inbox is looked at once the tick is over. */
  touch(inbox: Inbox<Item, Own>): void {
    if (inbox.touched) return;
    inbox.touched = true;
    if (this.touched.push(inbox) === 1) setImmediate(this.tidy);
  }

  /** A caller gave up (its wait handle was cancelled): with nobody left, nothing is kept or watched for it. */
  private gaveUp(inbox: Inbox<Item, Own>): void {
    this.source.onLeave(inbox, false);
    if (inbox.callers.size > 0) return;
    this.endLinger(inbox);
    this.source.stop(inbox);
    this.touch(inbox);
  }

  /** Every caller of the channel was served: a receive coming back soon finds it hungry. */
  private markServed(inbox: Inbox<Item, Own>): void {
    inbox.served = true;
    if (this.options.maxWindow > 0) inbox.servedAt = performance.now();
  }

  /** A caller was served and nobody waits: the channel stays watched for `linger` ms. */
  private startLinger(inbox: Inbox<Item, Own>): void {
    inbox.lingerUntil = performance.now() + this.options.linger;
    this.lingering.add(inbox);
    if (this.lingerTimer === undefined) {
      this.lingerTimer = setTimeout(this.endLingers, this.options.linger);
      this.lingerTimer.unref();
    }
  }

  /** The timer: inboxes whose linger is over are tidied as at the end of a tick; the timer is set again for the rest. */
  private readonly endLingers = (): void => {
    this.lingerTimer = undefined;
    const now = performance.now();
    let next = Infinity;
    for (const inbox of this.lingering) {
      if (inbox.callers.size > 0 || inbox.lingerUntil === 0) {
        this.lingering.delete(inbox);
      } else if (inbox.lingerUntil <= now) {
        this.endLinger(inbox);
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

  /** After the tick: every inbox touched in it that nobody waits on. */
  private readonly tidy = (): void => {
    const touched = this.touched;
    this.touched = [];
    const now = this.options.linger > 0 ? performance.now() : 0;
    for (const inbox of touched) {
      inbox.touched = false;
      inbox.served = false;
      if (inbox.callers.size === 0) this.idle(inbox, now);
    }
  };

  /**
   * An inbox nobody waits on. Lingering, it stays watched, keeping at most
   * the one message `keepWhileLingering` allows. Otherwise its source stops
   * (first, so it brings nothing more), what it holds goes back, and it goes
   * once nothing is on its way.
   */
  private idle(inbox: Inbox<Item, Own>, now: number): void {
    if (inbox.lingerUntil > now && !this.closing) {
      if (inbox.ahead.length === 0) return this.source.linger(inbox, true);
      if (this.options.keepWhileLingering) return this.giveBack(inbox, inbox.ahead.length - 1);
    }
    this.endLinger(inbox);
    this.source.stop(inbox);
    this.giveBack(inbox, inbox.ahead.length);
    if (!this.source.busy(inbox) && inbox.callers.size === 0 && this.byChannel.get(inbox.channel) === inbox) {
      this.byChannel.delete(inbox.channel);
    }
  }

  /** The newest `count` messages held ahead go back; more than one back unused means the window overshot. */
  private giveBack(inbox: Inbox<Item, Own>, count: number): void {
    if (count <= 0) return;
    const items = inbox.ahead.splice(inbox.ahead.length - count, count);
    if (count > 1) inbox.window = 0;
    this.source.giveBack(inbox, items);
  }
}

/** Resolve a caller with the message in `item` (or reject it, when the item is not a message). */
function hand<Item>(source: ReceiveSource<Item, unknown>, caller: Caller, item: Item): void {
  let message: Message;
  try {
    message = source.open(item);
  } catch (err) {
    return caller.fail(err);
  }
  caller.deliver(message);
}
