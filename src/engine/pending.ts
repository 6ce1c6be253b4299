/**
 * A receive waiting for a message, as a promise: settled exactly once, by a
 * delivery, a failure (the layer closed) or its AbortSignal, whichever comes
 * first. An abort cancels the wait, so nothing is taken for it.
 */
import type { WaitHandle, Waiter } from "./waiters.js";

type Waiting = Set<PendingReceive<unknown>>;

/**
 * The receives waiting on each signal. A signal gets one "abort" listener,
 * added the first time it is seen, that ends every receive waiting on it: a
 * consumer's receive loop passes the same signal to every receive, and adding
 * and removing a listener per message cost more than the rest of a delivery.
 */
const waitingOn = new WeakMap<AbortSignal, Waiting>();

function waitingSet(signal: AbortSignal): Waiting {
  let waiting = waitingOn.get(signal);
  if (waiting === undefined) {
    const set: Waiting = new Set();
    waiting = set;
    waitingOn.set(signal, set);
    signal.addEventListener(
      "abort",
      () => {
        for (const pending of set) pending.abort(signal.reason);
        set.clear();
      },
      { once: true },
    );
  }
  return waiting;
}

export class PendingReceive<T> implements Waiter<T> {
  private handle: WaitHandle | undefined;
  /** The set this receive is in while its signal may still end it. */
  private waiting: Waiting | undefined;

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
        pending.waiting = waitingSet(signal);
        pending.waiting.add(pending as PendingReceive<unknown>);
      }
    });
  }

  deliver(body: T): boolean {
    this.waiting?.delete(this as PendingReceive<unknown>);
    this.resolve(body);
    return true;
  }

  fail(reason: unknown): void {
    this.waiting?.delete(this as PendingReceive<unknown>);
    this.reject(reason);
  }

  /** The signal fired (called by its listener only): stop waiting, so nothing is taken for this receive. */
  abort(reason: unknown): void {
    this.waiting = undefined;
    this.handle!.cancel();
    this.reject(reason);
  }
}
