/**
 * A receive loop without a promise per message: a consumer asks for the next
 * message of its channel and is called back with it. A layer may answer
 * straight from its engine (the in-memory one does); any other is asked with
 * `receive()`. A consumer handles one message at a time, so it asks for the
 * next only once it is done with the last: nothing is taken ahead of it
 * (docs/semantics.md §4.10), and `cancel()` leaves what was not yet handed
 * over in the channel (§4.6).
 *
 * Measured on the ws-rooms bench: a promise, its continuation and an abort
 * listener's bookkeeping per message cost more than the layer's own work.
 */
import type { Waiter } from "../engine/waiters.js";
import type { ChannelLayer, Message } from "../layer.js";

/** Who gets the next message. Neither method may throw: they run in a batch with other consumers' deliveries. */
export interface NextMessageTarget {
  /** The next message, called in a later microtask, never within the request. */
  message(message: Message): void;
  /** The receive failed: the layer closed, or refused the channel. */
  failed(error: unknown): void;
}

/** How a pending request is taken back; a no-op once its message was handed over. */
export interface NextMessageWait {
  cancel(): void;
}

/** The method a layer implements to answer `nextMessage` itself. Not exported from the package. */
export const receiveNext = Symbol("channel-layers.receiveNext");

export interface ReceivesNext {
  [receiveNext](channel: string, target: NextMessageTarget): NextMessageWait;
}

/** What a request answered at once returns. */
export const NO_WAIT: NextMessageWait = { cancel() {} };

/** A request waiting in an engine's channel: a delivery calls its target back in the next batch. */
export class NextWaiter implements Waiter<Message> {
  constructor(private readonly target: NextMessageTarget) {}

  deliver(message: Message): boolean {
    later(this.target, message);
    return true;
  }

  fail(error: unknown): void {
    later(this.target, undefined, error);
  }
}

/**
 * Ask `layer` for the next message of `channel` for `target`. A layer
 * without its own way is asked with `receive(channel, { signal })`: abort the
 * signal to take that request back, as `cancel()` does for the other.
 */
export function nextMessage(layer: ChannelLayer, channel: string, target: NextMessageTarget, signal: AbortSignal): NextMessageWait {
  const own = (layer as Partial<ReceivesNext>)[receiveNext];
  if (typeof own === "function") return own.call(layer, channel, target);
  try {
    layer.receive(channel, { signal }).then(
      (message) => target.message(message),
      (err: unknown) => target.failed(err),
    );
  } catch (err) {
    // A layer written elsewhere may throw where ours reject.
    later(target, undefined, err);
  }
  return NO_WAIT;
}

/**
 * Deliveries due, as (target, message, error) triples, run together in one
 * microtask: a group send to a hundred waiting consumers schedules one, not a
 * hundred (queueMicrotask builds an async resource per call).
 */
const due: unknown[] = [];

/** Call `target` back in a later microtask: with `message`, or with `error` when it is set. */
export function later(target: NextMessageTarget, message: Message | undefined, error?: unknown): void {
  if (due.push(target, message, error) === 3) void Promise.resolve().then(drain);
}

function drain(): void {
  let i = 0;
  try {
    // Deliveries made while draining join this run, in order.
    for (; i < due.length; i += 3) {
      const target = due[i] as NextMessageTarget;
      const error = due[i + 2];
      if (error !== undefined) target.failed(error);
      else target.message(due[i + 1] as Message);
    }
  } finally {
    // A target that broke its promise not to throw leaves the rest for another run, not stranded.
    due.splice(0, i + 3 <= due.length ? i + 3 : due.length);
    if (due.length > 0) void Promise.resolve().then(drain);
  }
}
