/**
 * A receive waiting for a message, as a promise: settled exactly once, by a
 * delivery, a failure (the layer closed) or its AbortSignal, whichever comes
 * first. An abort cancels the wait, so nothing is taken for it.
 */
import type { WaitHandle, Waiter } from "./waiters.js";

/**
 * The receives waiting on one signal, behind one "abort" listener. A
 * consumer's receive loop passes the same signal to every receive, and adding
 * and removing a listener per message cost more than the rest of a delivery.
 * The listener stays while receives keep coming: it is removed at the end of a
 * turn in which the set emptied and nobody waited again, so a signal made
 * for one receive (AbortSignal.timeout, which Node holds while it has
 * listeners) is not kept alive by a listener nobody needs.
 */
class SignalWaits {
  readonly receives = new Set<PendingReceive<unknown>>();
  attached = true;
  constructor(readonly signal: AbortSignal) {
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  readonly onAbort = (): void => {
    this.attached = false;
    waitingOn.delete(this.signal);
    for (const pending of this.receives) pending.abort(this.signal.reason);
    this.receives.clear();
  };

  leave(pending: PendingReceive<unknown>): void {
    this.receives.delete(pending);
    if (this.receives.size === 0) emptied(this);
  }

  detach(): void {
    if (!this.attached || this.receives.size > 0) return;
    this.attached = false;
    waitingOn.delete(this.signal);
    this.signal.removeEventListener("abort", this.onAbort);
  }
}

const waitingOn = new WeakMap<AbortSignal, SignalWaits>();

/** Sets that emptied this turn: each loses its listener at the turn's end unless a receive joined it again. */
const emptiedThisTurn: SignalWaits[] = [];

function emptied(waits: SignalWaits): void {
  // setImmediate, not nextTick: after an I/O callback, ticks run before the promise continuations
  // in which a receive loop waits again (measured: ws-rooms server CPU per delivery 38 -> 55 us).
  if (emptiedThisTurn.push(waits) === 1) setImmediate(detachEmptied);
}

function detachEmptied(): void {
  for (const waits of emptiedThisTurn) waits.detach();
  emptiedThisTurn.length = 0;
}

export class PendingReceive<T> implements Waiter<T> {
  private handle: WaitHandle | undefined;
  /** The signal's set this receive is in while the signal may still end it. */
  private waits: SignalWaits | undefined;

  private constructor(
    private readonly resolve: (body: T) => void,
    private readonly reject: (reason: unknown) => void,
  ) {}

  /** Wait: `register` puts the pending receive where deliveries find it and returns how to take it back. */
  static wait<T>(signal: AbortSignal | undefined, register: (pending: PendingReceive<T>) => WaitHandle): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending = new PendingReceive<T>(resolve, reject);
      pending.handle = register(pending);
      if (signal) {
        let waits = waitingOn.get(signal);
        if (waits === undefined) {
          waits = new SignalWaits(signal);
          waitingOn.set(signal, waits);
        }
        waits.receives.add(pending as PendingReceive<unknown>);
        pending.waits = waits;
      }
    });
  }

  deliver(body: T): boolean {
    this.waits?.leave(this as PendingReceive<unknown>);
    this.resolve(body);
    return true;
  }

  fail(reason: unknown): void {
    this.waits?.leave(this as PendingReceive<unknown>);
    this.reject(reason);
  }

  /** The signal fired (called by its listener only): stop waiting, so nothing is taken for this receive. */
  abort(reason: unknown): void {
    this.waits = undefined;
    this.handle!.cancel();
    this.reject(reason);
  }
}
