/** Requests on their way to the broker, and the callers awaiting their answers. */
import { settlers } from "../client/pending-receive.js";
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

/** A request whose caller awaits the answer: `promise`. */
export class Call extends Outgoing {
  // Set by settlers(); declared only, so no initialiser can overwrite them, whatever the field order.
  declare resolve: (value: unknown) => void;
  declare reject: (reason: unknown) => void;
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
