/** Requests on their way to the broker, and the callers awaiting their answers. */
import type { Link } from "./link.js";

// One shared executor rather than a closure for each promise (two promises are made per message):
// it leaves the resolve and reject here, and settlers() takes them at once, in the same constructor.
let nextResolve: (value: unknown) => void = () => {};
let nextReject: (reason: unknown) => void = () => {};
function capture(resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
  nextResolve = resolve;
  nextReject = reject;
}

/** A new promise and its settlers, taken together so no other promise can come between. */
function settlers(target: { resolve: (value: unknown) => void; reject: (reason: unknown) => void }): Promise<unknown> {
  const promise = new Promise<unknown>(capture);
  target.resolve = nextResolve;
  target.reject = nextReject;
  return promise;
}

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

/** A request whose caller awaits the answer: `promise`. */
export class Call extends Outgoing {
  // Set by settlers(); initialised to the last captured pair so that fields in any order end the same.
  resolve: (value: unknown) => void = nextResolve;
  reject: (reason: unknown) => void = nextReject;
  readonly promise: Promise<unknown> = settlers(this);

  get op(): number {
    return this.frame[0] as number;
  }

  fulfil(value: unknown): void {
    this.resolve(value);
  }

  fail(reason: unknown): void {
    this.reject(reason);
  }
}

/** A caller of `receive` on `channel`, waiting for `promise`: a message its channel's poll brings (receives.ts). */
export class Receiver {
  // Set by settlers(), as in Call.
  resolve: (value: unknown) => void = nextResolve;
  reject: (reason: unknown) => void = nextReject;
  readonly promise: Promise<unknown> = settlers(this);
  private signal: AbortSignal | undefined = undefined;
  private onAbort: (() => void) | undefined = undefined;

  constructor(readonly channel: string) {}

  /** Call `onAbort` when the caller's signal aborts, until the receive settles. */
  listen(signal: AbortSignal, onAbort: () => void): void {
    this.signal = signal;
    this.onAbort = onAbort;
    signal.addEventListener("abort", onAbort, { once: true });
  }

  fulfil(value: unknown): void {
    this.settle();
    this.resolve(value);
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
