/**
 * A receive waiting for a message, as a promise: the one abortable-promise
 * type of every backend. It is settled exactly once, by a delivery, a failure
 * (the layer closed, the backend refused) or its AbortSignal, whichever comes
 * first. An abort takes the receive back before it rejects, so nothing is
 * taken for it (docs/semantics.md §4.6): at once where the wait is local (the
 * engine, pub/sub buffers), or once what was already on its way for it is
 * back where it came from (the broker client, Redis).
 */
import type { WaitHandle, Waiter } from "../engine/waiters.js";

// One shared executor rather than a closure for each promise (a receive loop makes one or two per message):
// it leaves the resolve and reject here, and settlers() takes them at once, in the same call.
let nextResolve: (value: unknown) => void = () => {};
let nextReject: (reason: unknown) => void = () => {};
function capture(resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
  nextResolve = resolve;
  nextReject = reject;
}

/** A new promise whose settlers are set on `target`, taken together so that no other promise can come between. */
export function settlers<T>(target: { resolve: (value: T) => void; reject: (reason: unknown) => void }): Promise<T> {
  const promise = new Promise<unknown>(capture) as Promise<T>;
  target.resolve = nextResolve;
  target.reject = nextReject;
  return promise;
}

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
  // Set by settlers(); declared only, so no initialiser can overwrite them, whatever the field order.
  declare resolve: (value: T) => void;
  declare reject: (reason: unknown) => void;
  readonly promise: Promise<T> = settlers(this);
  /** The signal's set this receive is in while the signal may still end it. */
  private waits: SignalWaits | undefined = undefined;
  /** How an abort takes the receive back: a wait handle to cancel, or the backend's own step. */
  private stop: WaitHandle | ((reason: unknown) => void) | undefined = undefined;

  /**
   * Wait where `register` puts the receive (deliveries find it there); it
   * returns how to take the wait back, which an abort does before it rejects.
   */
  static wait<T>(signal: AbortSignal | undefined, register: (pending: PendingReceive<T>) => WaitHandle): Promise<T> {
    const pending = new PendingReceive<T>();
    const handle = register(pending);
    if (signal) pending.listen(signal, handle);
    return pending.promise;
  }

  /**
   * Until it settles, `signal` aborting ends this receive: `stop` is a wait
   * handle, cancelled before the receive rejects with the signal's reason, or
   * the backend's own step, which calls `fail(reason)` once nothing can still
   * arrive for this receive.
   */
  listen(signal: AbortSignal, stop: WaitHandle | ((reason: unknown) => void)): void {
    let waits = waitingOn.get(signal);
    if (waits === undefined) {
      waits = new SignalWaits(signal);
      waitingOn.set(signal, waits);
    }
    waits.receives.add(this as PendingReceive<unknown>);
    this.waits = waits;
    this.stop = stop;
  }

  deliver(value: T): boolean {
    this.waits?.leave(this as PendingReceive<unknown>);
    this.resolve(value);
    return true;
  }

  fail(reason: unknown): void {
    this.waits?.leave(this as PendingReceive<unknown>);
    this.reject(reason);
  }

  /** The signal fired (called by its listener only): take the wait back, so nothing is taken for this receive. */
  abort(reason: unknown): void {
    this.waits = undefined;
    const stop = this.stop!;
    if (typeof stop === "function") return stop(reason);
    stop.cancel();
    this.reject(reason);
  }
}
