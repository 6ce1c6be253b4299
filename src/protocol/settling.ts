/**
 * Sends that wait for other clients to settle what they hold ahead
 * (docs/semantics.md §4.10, docs/broker.md "Read-ahead and capacity").
 *
 * A message the broker hands to a client stays counted against its channel
 * until that client says it took it or gives it back, and that report travels
 * on the client's own connection. So a receive can resolve in one process, a
 * send caused by it can leave another, and the send can reach the broker
 * first: counted by what the broker knows then, the channel is still full.
 * Refusing it would show the read-ahead (a channel seen fuller than it is).
 *
 * A send or group send that would be refused, or would skip a member, only
 * because of messages clients hold ahead therefore waits until every client
 * that held messages of that channel when the send arrived has settled all it
 * held then (reports are written in the holder's next write, so this is about
 * one of its round trips), or has gone; then it is decided on what the broker
 * knows. A holder that never reports holds the send up for at most
 * SETTLE_WAIT_MS, after which it is decided as it stands.
 */
import type { Engine } from "../engine/engine.js";

/** A client holding messages ahead (src/protocol/ahead.ts). */
export interface Holder {
  /** Make `wait` wait until this client has settled every message of `channel` it holds now; false when it holds none. */
  awaitSettled(channel: string, wait: SettleWait): boolean;
}

/** Longest a send waits for holders to settle: past it, it is decided on what the broker knows. */
export const SETTLE_WAIT_MS = 1000;

/** One waiting send: met once every holder it waits on has settled far enough. */
export class SettleWait {
  /** Holders not yet settled far enough. */
  pending = 0;
  /** Ended (met, timed out, or its session gone): later reports are ignored. */
  over = false;

  constructor(private readonly done: () => void) {}

  /** One holder settled far enough. */
  met(): void {
    if (this.over || --this.pending > 0) return;
    this.over = true;
    this.done();
  }
}

export class Settling {
  /**
   * Per channel, the clients holding messages of it ahead: the one client
   * itself, as nearly always (a consumer's own channel), else a set of them.
   * A consumer's channel goes in and out of here with every message it is
   * handed and settles, so the one-holder case makes no set.
   */
  private readonly holders = new Map<string, Holder | Set<Holder>>();

  constructor(private readonly engine: Pick<Engine<Buffer>, "fullAhead" | "groupMembers">) {}

  /** `holder` now holds messages of `channel`. */
  addHolder(channel: string, holder: Holder): void {
    const held = this.holders.get(channel);
    if (held === undefined) this.holders.set(channel, holder);
    else if (held instanceof Set) held.add(holder);
    else if (held !== holder) this.holders.set(channel, new Set([held, holder]));
  }

  /** `holder` holds no message of `channel` any more. */
  removeHolder(channel: string, holder: Holder): void {
    const held = this.holders.get(channel);
    if (held === holder) this.holders.delete(channel);
    else if (held instanceof Set) {
      held.delete(holder);
      if (held.size === 0) this.holders.delete(channel);
    }
  }

  /** The wait a Send to `channel` needs before it is decided, if any (`done` is called when it is met). */
  forSend(channel: string, done: () => void): SettleWait | undefined {
    if (!this.holders.has(channel) || !this.engine.fullAhead(channel)) return undefined;
    const wait = new SettleWait(done);
    this.await(channel, wait);
    return this.ifWaiting(wait);
  }

  /** The wait a GroupSend to `group` needs: for each member it would skip only for what is held ahead. */
  forGroupSend(group: string, done: () => void): SettleWait | undefined {
    if (this.holders.size === 0) return undefined;
    const members = this.engine.groupMembers(group);
    if (members === undefined) return undefined;
    const wait = new SettleWait(done);
    // Look through whichever is smaller: the group's members or the channels held ahead.
    if (members.size <= this.holders.size) {
      for (const channel of members.keys()) if (this.holders.has(channel) && this.engine.fullAhead(channel)) this.await(channel, wait);
    } else {
      for (const channel of this.holders.keys()) if (members.has(channel) && this.engine.fullAhead(channel)) this.await(channel, wait);
    }
    return this.ifWaiting(wait);
  }

  private await(channel: string, wait: SettleWait): void {
    const held = this.holders.get(channel)!;
    if (!(held instanceof Set)) {
      if (held.awaitSettled(channel, wait)) wait.pending++;
      return;
    }
    for (const holder of held) if (holder.awaitSettled(channel, wait)) wait.pending++;
  }

  /** `wait` if it waits on any holder; else none, and `wait` is over. */
  private ifWaiting(wait: SettleWait): SettleWait | undefined {
    if (wait.pending > 0) return wait;
    wait.over = true;
    return undefined;
  }
}
