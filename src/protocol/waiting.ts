/**
 * One client's receives on the broker: answered at once from the queue with
 * up to `max` messages, or waiting in the engine for the next one, a standing
 * receive until it has handed over `max`. Every message handed over stays
 * counted against its channel (HeldAhead) until the client settles it
 * (docs/semantics.md §4.10), and no read-ahead passes messages another client
 * holds: it may give them back, and they are older (§4.1).
 */
import type { Taken, Waiter, WaitHandle } from "../engine/engine.js";
import { ProtocolError } from "../errors.js";
import { HeldAhead } from "./ahead.js";
import type { ReceiveRequest } from "./decode.js";
import { answer, MessagesAnswer } from "./encode.js";
import { ReceiveMode } from "./ops.js";
import type { Replies } from "./replies.js";
import type { SessionHost } from "./session-host.js";

/** A receive answered with several messages stops adding more past this many bytes. */
const BATCH_BYTES = 128 * 1024;

/** A receive waiting in the engine for a message. */
export class ReceiveWaiter implements Waiter<Buffer> {
  handle: WaitHandle | undefined;
  constructor(
    readonly receives: WaitingReceives,
    readonly id: number,
    readonly channel: string,
    /** Messages it still takes: a standing receive waits again after each until they are all handed over. */
    public credit: number,
    /** Of those, how many receives wait for; the rest is read-ahead. */
    public callers: number,
  ) {}
  deliver(body: Buffer, deadline: number, priority: number, seq: number): boolean {
    return this.receives.deliver(this, body, deadline, priority, seq);
  }
}

export class WaitingReceives {
  private readonly waiters = new Map<number, ReceiveWaiter>();
  private readonly taken: Taken = { deadline: 0, priority: 0, seq: 0 };
  /** What this client was handed and has not yet said it took or gave back (docs/semantics.md §4.10). */
  private readonly ahead: HeldAhead;
  private ended = false;

  constructor(
    private readonly broker: SessionHost,
    private readonly replies: Replies,
  ) {
    this.ahead = new HeldAhead(broker.engine, broker.settling);
  }

  /** Receives waiting for a message. */
  get size(): number {
    return this.waiters.size;
  }

  /**
   * Answer with up to `max` queued messages at once, or wait for the next one;
   * a standing receive keeps waiting until it has handed over `max`. The
   * caller has checked the client's right to the channel.
   */
  receive({ id, channel, max, mode, callers }: ReceiveRequest): void {
    if (this.waiters.has(id)) throw new ProtocolError(`request id ${id} already names a waiting receive`);
    if (this.waiters.size >= this.broker.maxPendingReceives) {
      throw new ProtocolError(`too many waiting receives on one connection (limit ${this.broker.maxPendingReceives})`);
    }
    const engine = this.broker.engine;
    const standing = mode !== ReceiveMode.Once;
    // A watch takes nothing queued: a message held ahead of others still queued would let another client's receive pass it.
    if (mode === ReceiveMode.Watch && engine.size(channel) > 0) return this.replies.send(answer.ok(id));
    let credit = standing ? max : 1;
    // No read-ahead past messages another client holds (it may give them back, and they are older).
    if (this.othersHold(channel)) {
      if (callers === 0) return this.replies.send(answer.ok(id));
      max = Math.min(max, callers);
      credit = Math.min(credit, callers);
    }
    const taken = this.taken;
    let body = engine.take(channel, taken);
    if (body !== undefined) {
      const batch = new MessagesAnswer(id);
      let bytes = 0;
      do {
        batch.add(body, taken.deadline, taken.priority);
        this.ahead.handed(channel, body, taken.deadline, taken.priority, taken.seq!);
        bytes += body.length;
      } while (batch.count < max && bytes < BATCH_BYTES && (body = engine.take(channel, taken)) !== undefined);
      credit -= batch.count;
      // Only a receive that emptied the queue may wait: a waiter is only ever handed what arrives later.
      if (credit <= 0 || body !== undefined || bytes >= BATCH_BYTES) return this.replies.send(batch.frame);
      batch.partial();
      this.replies.send(batch.frame);
    }
    const waiter = new ReceiveWaiter(this, id, channel, credit, Math.max(0, callers - (standing ? max - credit : 0)));
    this.waiters.set(id, waiter);
    waiter.handle = engine.wait(channel, waiter);
  }

  /** The engine hands a message to one of these receives; false when it no longer takes it. */
  deliver(waiter: ReceiveWaiter, body: Buffer, deadline: number, priority: number, seq: number): boolean {
    if (this.ended || this.waiters.get(waiter.id) !== waiter) return false;
    if (waiter.callers === 0 && this.othersHold(waiter.channel)) {
      // Read-ahead past what another client holds: the receive ends here, and the message goes on.
      this.waiters.delete(waiter.id);
      this.replies.send(answer.ok(waiter.id));
      return false;
    }
    if (waiter.callers > 0) waiter.callers--;
    this.ahead.handed(waiter.channel, body, deadline, priority, seq);
    if (--waiter.credit > 0) {
      this.replies.message(waiter.id, true, body, deadline, priority);
      // At the back of the line again, so other receivers of a worker channel get their turn (docs/semantics.md §4.2).
      waiter.handle = this.broker.engine.wait(waiter.channel, waiter);
    } else {
      this.waiters.delete(waiter.id);
      this.replies.message(waiter.id, false, body, deadline, priority);
    }
    return true;
  }

  /** Cancel receive `id`: answered Cancelled, unless it was answered already (the client then requeues what it got). */
  cancel(id: number): void {
    const waiter = this.waiters.get(id);
    if (waiter === undefined) return;
    this.waiters.delete(id);
    waiter.handle!.cancel();
    this.replies.send(answer.cancelled(id));
  }

  /** The client took `took` of what it holds on `channel` (`rest`: the others go back); throws if it holds fewer. */
  settle(channel: string, took: number, rest: boolean): void {
    this.ahead.settle(channel, took, rest);
  }

  /** The session ended: every receive leaves the engine and, unless the broker is closed, what the client held goes back now. */
  end(): void {
    this.ended = true;
    for (const waiter of this.waiters.values()) waiter.handle!.cancel();
    this.waiters.clear();
    // Gone or dead: what it held ahead goes back now, not after a grace (docs/semantics.md §4.10).
    if (!this.broker.closed) this.ahead.giveBackAll();
  }

  /** Whether other clients hold messages of `channel` ahead. */
  private othersHold(channel: string): boolean {
    return this.broker.engine.aheadOf(channel) > this.ahead.holds(channel);
  }
}
