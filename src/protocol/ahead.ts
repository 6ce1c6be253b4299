/**
 * What the broker handed one client ahead of application code, per channel,
 * in the order handed (docs/semantics.md §4.10). Each message stays counted against its
 * channel's capacity until the client says it took it (to application code)
 * or gives it back; a client that goes gives back all it held, at once.
 *
 * A consumer's channel is handed a message and settles it again and again
 * (each member of a big group, each group send), so a channel's record is
 * kept when it empties rather than made anew for its next message; records
 * of empty channels are dropped once there are more than EMPTY_KEPT of them
 * and they outnumber the rest, which bounds what a client that once received
 * on many channels leaves here.
 */
import type { Engine } from "../engine/engine.js";
import { ProtocolError } from "../errors.js";
import type { Settling, SettleWait } from "./settling.js";

/** Records of channels holding nothing that a client keeps, at least (see above). */
const EMPTY_KEPT = 4096;

/** One channel's messages held by a client: parallel arrays, oldest at `head`. */
class Held {
  bodies: Buffer[] = [];
  deadlines: number[] = [];
  priorities: number[] = [];
  /** Each one's place in the channel's order, as the engine numbered it. */
  seqs: number[] = [];
  /** The engine's flush epoch when each was handed: a flush since makes it gone. */
  epochs: number[] = [];
  head = 0;
  /** How many were settled and cut off the front of the arrays: `base + head` counts all ever settled. */
  base = 0;
  /** Sends waiting until this client has settled all it held when they arrived: `upTo` counts from `base` 0. */
  waits: { upTo: number; wait: SettleWait }[] | undefined = undefined;

  get size(): number {
    return this.bodies.length - this.head;
  }

  /** Tell each waiting send whose messages are now all settled (`all`: every one is). */
  release(all: boolean): void {
    if (this.waits === undefined) return;
    const settled = this.base + this.head;
    const left = all ? [] : this.waits.filter((w) => w.upTo > settled && !w.wait.over);
    for (const w of this.waits) if (all || w.upTo <= settled) w.wait.met();
    this.waits = left.length > 0 ? left : undefined;
  }
}

export class HeldAhead {
  private readonly channels = new Map<string, Held>();
  /** Records in `channels` holding nothing. */
  private empty = 0;

  constructor(
    private readonly engine: Pick<Engine<Buffer>, "epoch" | "settle">,
    private readonly settling: Settling,
  ) {}

  /** Messages of `channel` this client holds. */
  holds(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  /** The engine handed `body` to this client. */
  handed(channel: string, body: Buffer, deadline: number, priority: number, seq: number): void {
    let held = this.channels.get(channel);
    if (held === undefined) {
      held = new Held();
      this.channels.set(channel, held);
      this.settling.addHolder(channel, this);
    } else if (held.size === 0) {
      this.empty--;
      this.settling.addHolder(channel, this);
    }
    held.bodies.push(body);
    held.deadlines.push(deadline);
    held.priorities.push(priority);
    held.seqs.push(seq);
    held.epochs.push(this.engine.epoch);
  }

  /**
   * The client took the oldest `took` held on `channel`; with `rest`, every
   * other one held there goes back to the head, in order. Asking to settle
   * more than it holds is a protocol error (the caller ends the session).
   */
  settle(channel: string, took: number, rest: boolean): void {
    const held = this.channels.get(channel);
    const size = held?.size ?? 0;
    if (took > size) {
      throw new ProtocolError(`requeue: the client says it took ${took} messages of "${channel}" but holds ${size}`);
    }
    if (held === undefined || held.size === 0) return;
    const epoch = this.engine.epoch;
    const from = held.head;
    const to = rest ? held.bodies.length : from + took;
    // Only what was handed since the last flush still counts; the rest was flushed.
    let current = 0;
    for (let i = from; i < from + took; i++) if (held.epochs[i] === epoch) current++;
    if (rest && to > from + took) {
      const bodies: Buffer[] = [];
      const deadlines: number[] = [];
      const priorities: number[] = [];
      const seqs: number[] = [];
      for (let i = from + took; i < to; i++) {
        if (held.epochs[i] !== epoch) continue;
        bodies.push(held.bodies[i]!);
        deadlines.push(held.deadlines[i]!);
        priorities.push(held.priorities[i]!);
        seqs.push(held.seqs[i]!);
      }
      this.engine.settle(channel, current, bodies, deadlines, priorities, seqs);
    } else if (current > 0) {
      this.engine.settle(channel, current);
    }
    const emptied = to === held.bodies.length;
    for (let i = from; i < to; i++) held.bodies[i] = undefined as unknown as Buffer; // let them be collected
    held.head = to;
    if (emptied) {
      this.settling.removeHolder(channel, this);
      held.release(true);
      if (++this.empty > EMPTY_KEPT && this.empty * 2 > this.channels.size) this.dropEmpty();
    }
    if (held.head > 64 && held.head * 2 > held.bodies.length) {
      held.bodies = held.bodies.slice(held.head);
      held.deadlines = held.deadlines.slice(held.head);
      held.priorities = held.priorities.slice(held.head);
      held.seqs = held.seqs.slice(held.head);
      held.epochs = held.epochs.slice(held.head);
      held.base += held.head;
      held.head = 0;
    }
    held.release(false);
  }

  /**
   * `wait` waits until this client has settled every message of `channel` it
   * holds now (docs/semantics.md §4.10). False when it holds none.
   */
  awaitSettled(channel: string, wait: SettleWait): boolean {
    const held = this.channels.get(channel);
    if (held === undefined || held.size === 0) return false;
    // Waits that timed out are dropped here too, so a holder that never reports does not collect them.
    if (held.waits !== undefined && held.waits.length >= 32) held.waits = held.waits.filter((w) => !w.wait.over);
    (held.waits ??= []).push({ upTo: held.base + held.bodies.length, wait });
    return true;
  }

  /** The client is gone: everything it held goes back, at once. */
  giveBackAll(): void {
    for (const channel of [...this.channels.keys()]) this.settle(channel, 0, true);
  }

  /** Forget the records of channels holding nothing. */
  private dropEmpty(): void {
    for (const [channel, held] of this.channels) if (held.size === 0) this.channels.delete(channel);
    this.empty = 0;
  }
}
