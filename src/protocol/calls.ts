/** Requests on their way to the broker, and the calls awaiting its answers. */
import type { Link } from "./link.js";

/** A frame waiting to be written, and the link it went out on once written. */
export class Outgoing {
  link: Link | undefined = undefined;
  /** Withdrawn before it was written: skipped when the outbox is written. */
  dropped = false;
  constructor(readonly frame: unknown[]) {}
}

/** A request whose caller awaits the answer. */
export class Call extends Outgoing {
  /** A receive whose caller gave up after it was written: its answer is handed on or back. */
  aborted = false;
  private signal: AbortSignal | undefined = undefined;
  private onAbort: (() => void) | undefined = undefined;

  constructor(
    frame: unknown[],
    readonly resolve: (value: never) => void,
    readonly reject: (reason: unknown) => void,
  ) {
    super(frame);
  }

  get op(): number {
    return this.frame[0] as number;
  }

  get id(): number {
    return this.frame[1] as number;
  }

  /** The channel of a receive. */
  get channel(): string {
    return this.frame[2] as string;
  }

  /** Call `onAbort` when the caller's signal aborts, until the call settles. */
  listen(signal: AbortSignal, onAbort: () => void): void {
    this.signal = signal;
    this.onAbort = onAbort;
    signal.addEventListener("abort", onAbort, { once: true });
  }

  /** Detach from the caller's signal: the promise is about to settle. */
  settle(): void {
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
    this.onAbort = undefined;
  }

  fulfil(value: unknown): void {
    this.settle();
    (this.resolve as (v: unknown) => void)(value);
  }

  fail(reason: unknown): void {
    this.settle();
    this.reject(reason);
  }
}
