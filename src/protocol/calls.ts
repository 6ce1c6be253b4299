/** Requests on their way to the broker, and the callers awaiting their answers. */
import { settlers } from "../client/pending-receive.js";
import type { Answer, Request } from "./decode.js";
import type { Link } from "./link.js";

/** A request waiting to be written, and the link it went out on once written. */
export class Outgoing<R extends Request = Request> {
  link: Link | undefined = undefined;
  /** Withdrawn before it was written: skipped when the outbox is written. */
  dropped = false;
  constructor(readonly request: R) {}

  get id(): number {
    return this.request.id;
  }
}

/** A request whose caller awaits the answer: `promise`, settled with what `read` takes from an Ok answer. */
export class Call extends Outgoing {
  // Set by settlers(); declared only, so no initialiser can overwrite them, whatever the field order.
  declare resolve: (value: unknown) => void;
  declare reject: (reason: unknown) => void;
  readonly promise: Promise<unknown> = settlers(this);

  constructor(
    request: Request,
    private readonly read: (answer: Answer) => unknown,
  ) {
    super(request);
  }

  fulfil(answer: Answer): void {
    this.resolve(this.read(answer));
  }

  fail(reason: unknown): void {
    this.reject(reason);
  }
}
