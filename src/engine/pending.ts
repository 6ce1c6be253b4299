/**
 * A receive waiting for a message, as a promise: settled exactly once, by a
 * delivery, a failure (the layer closed) or its AbortSignal, whichever comes
 * first. An abort cancels the wait, so nothing is taken for it.
 */
import type { WaitHandle, Waiter } from "./waiters.js";

export class PendingReceive<T> implements Waiter<T> {
  private onAbort: (() => void) | undefined;

  private constructor(
    private readonly resolve: (body: T) => void,
    private readonly reject: (reason: unknown) => void,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Wait: `register` puts the pending receive where deliveries find it and returns how to take it back. */
  static wait<T>(signal: AbortSignal | undefined, register: (pending: PendingReceive<T>) => WaitHandle): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending = new PendingReceive<T>(resolve, reject, signal);
      const handle = register(pending);
      if (signal) {
        pending.onAbort = () => {
          handle.cancel();
          reject(signal.reason);
        };
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
    });
  }

  deliver(body: T): boolean {
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
    this.resolve(body);
    return true;
  }

  fail(reason: unknown): void {
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
    this.reject(reason);
  }
}
