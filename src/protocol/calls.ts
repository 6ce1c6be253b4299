/** Requests on their way to the broker, and the callers awaiting their answers. */
import type { Link } from "./link.js";

/** A frame waiting to be written, and the link it went out on once written. */
export class Outgoing {
  link: Link | undefined = undefined;
  /** Withdrawn before it was written: skipped when the outbox is written. */
  dropped = false;
  constructor(readonly frame: unknown[]) {}

  get id(): number {
    return this.frame[1] as number;
  }
}

/** A request whose caller awaits the answer. */
export class Call extends Outgoing {
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

  fulfil(value: unknown): void {
    (this.resolve as (v: unknown) => void)(value);
  }

  fail(reason: unknown): void {
    this.reject(reason);
  }
}

/** A caller of `receive` on `channel`, waiting for a message its channel's poll brings (receives.ts). */
export class Receiver {
  private signal: AbortSignal | undefined = undefined;
  private onAbort: (() => void) | undefined = undefined;

  constructor(
    readonly channel: string,
    private readonly resolve: (value: never) => void,
    private readonly reject: (reason: unknown) => void,
  ) {}

  /** Call `onAbort` when the caller's signal aborts, until the receive settles. */
  listen(signal: AbortSignal, onAbort: () => void): void {
    this.signal = signal;
    this.onAbort = onAbort;
    signal.addEventListener("abort", onAbort, { once: true });
  }

  fulfil(value: unknown): void {
    this.settle();
    (this.resolve as (v: unknown) => void)(value);
  }

  fail(reason: unknown): void {
    this.settle();
    this.reject(reason);
  }

  /** Detach from the caller's signal: the promise is about to settle. */
  private settle(): void {
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
    this.onAbort = undefined;
  }
}
