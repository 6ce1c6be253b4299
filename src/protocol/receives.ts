/**
 * A client's receives, per channel. At most one receive per channel is in the
 * broker at a time; later ones wait their turn here, which keeps one client's
 * receives in FIFO order even when one is aborted in flight (its answer is
 * handed to the next in line, or back to the broker's head).
 *
 * The receive in the broker asks for as many messages as there are receives
 * waiting here, plus a prefetch window that grows while the caller receives in
 * a tight loop (each answer followed at once by the next receive) and closes
 * when it does not. Messages fetched ahead that no receive claims within the
 * tick go back to the head of the broker's channel, so another consumer of a
 * worker channel is never kept waiting behind them.
 */
import { ProtocolError } from "../errors.js";
import type { Message } from "../layer.js";
import { decodeMessage } from "../msgpack.js";
import type { Call } from "./calls.js";
import { MAX_RECEIVE_BATCH } from "./ops.js";

/** An answer within this many milliseconds of the last one means the caller receives in a loop. */
const HUNGRY_MS = 1;

interface Inbox {
  readonly channel: string;
  /** The one receive in the broker (or on its way), possibly aborted. */
  inflight: Call | undefined;
  /** Receives waiting their turn, in call order. */
  held: Call[];
  /** Messages fetched ahead, as the broker gave them: [body, deadline, priority, …]. */
  buffer: unknown[];
  /** Extra messages the next receive asks for. */
  window: number;
  answeredAt: number;
}

export interface ReceiveHost {
  /** Put a receive on the wire (and await its answer). */
  submit(call: Call): void;
  /** Withdraw a receive: one not yet written is dropped; a written one is cancelled in the broker and marked aborted. */
  cancel(call: Call): void;
  /** Put a message back at the head of its channel in the broker. */
  requeue(channel: string, body: unknown, deadline: unknown, priority: unknown): void;
}

export class Receives {
  private readonly inboxes = new Map<string, Inbox>();
  /** Inboxes with fetched-ahead messages or nothing left to do, looked at once the tick is over. */
  private readonly touched = new Set<string>();
  private tidyQueued = false;

  constructor(
    private readonly host: ReceiveHost,
    /** Largest prefetch window; 0 turns prefetching off. */
    private readonly prefetch: number,
  ) {}

  /** A new receive: served from what was fetched ahead, else sent, else queued behind the one in flight. */
  add(call: Call): void {
    const channel = call.channel;
    let inbox = this.inboxes.get(channel);
    if (inbox === undefined) {
      inbox = { channel, inflight: undefined, held: [], buffer: [], window: 0, answeredAt: -Infinity };
      this.inboxes.set(channel, inbox);
    }
    if (inbox.buffer.length > 0) {
      const body = inbox.buffer.shift();
      inbox.buffer.shift();
      inbox.buffer.shift();
      return settleWith(call, body);
    }
    if (inbox.inflight !== undefined) {
      inbox.held.push(call);
      return;
    }
    if (this.prefetch > 0 && performance.now() - inbox.answeredAt < HUNGRY_MS) {
      inbox.window = Math.min(this.prefetch, inbox.window * 4 || 4);
    }
    inbox.inflight = call;
    this.host.submit(call);
  }

  /** How many messages a receive being written asks for. */
  batchSize(channel: string): number {
    const inbox = this.inboxes.get(channel);
    return inbox === undefined ? 1 : Math.min(MAX_RECEIVE_BATCH, 1 + inbox.held.length + inbox.window);
  }

  /**
   * The broker answered the receive in flight on `call.channel`: `answer` is
   * [id, Ok, body, deadline, priority, …] (or empty when it was cancelled or failed).
   */
  answered(call: Call, answer: unknown[]): void {
    const channel = call.channel;
    const inbox = this.inboxes.get(channel);
    if (inbox === undefined || inbox.inflight !== call) return;
    inbox.inflight = undefined;
    let i = 2;
    if (answer.length > i) inbox.answeredAt = performance.now();
    if (!call.aborted && i < answer.length) {
      settleWith(call, answer[i]);
      i += 3;
    }
    for (; i < answer.length; i += 3) {
      const next = inbox.held.shift();
      if (next === undefined) {
        inbox.buffer.push(answer[i], answer[i + 1], answer[i + 2]);
      } else {
        settleWith(next, answer[i]);
      }
    }
    this.promote(inbox);
  }

  /** The caller of `call` gave up (`tell`: reject its promise now). */
  abort(call: Call, reason: unknown, tell = true): void {
    const inbox = this.inboxes.get(call.channel);
    if (inbox === undefined || call.aborted) return;
    const at = inbox.held.indexOf(call);
    if (at !== -1) {
      inbox.held.splice(at, 1);
    } else if (inbox.inflight === call) {
      this.host.cancel(call);
      // Not written yet, so it never goes: the next in line takes its place. Otherwise the
      // slot stays taken until the broker answers.
      if (!call.aborted) {
        inbox.inflight = undefined;
        this.promote(inbox);
      }
    } else {
      return;
    }
    if (tell) call.fail(reason);
  }

  /** The link went down with `call` in the broker: an aborted one is over, a live one is sent again. */
  lost(call: Call): boolean {
    const inbox = this.inboxes.get(call.channel);
    if (!call.aborted || inbox === undefined) return true;
    inbox.inflight = undefined;
    this.promote(inbox);
    return false;
  }

  /** Every receive still waiting (in flight or held), for close. */
  waiting(): Call[] {
    const out: Call[] = [];
    for (const inbox of this.inboxes.values()) {
      if (inbox.inflight && !inbox.inflight.aborted) out.push(inbox.inflight);
      out.push(...inbox.held);
    }
    return out;
  }

  /** Hand every fetched-ahead message back to the broker, newest first so the oldest ends at the head. */
  giveBack(): void {
    for (const inbox of this.inboxes.values()) this.giveBackFrom(inbox);
  }

  private giveBackFrom(inbox: Inbox): void {
    if (inbox.buffer.length === 0) return;
    for (let i = inbox.buffer.length - 3; i >= 0; i -= 3) {
      this.host.requeue(inbox.channel, inbox.buffer[i], inbox.buffer[i + 1], inbox.buffer[i + 2]);
    }
    inbox.buffer = [];
    inbox.window = 0; // the caller was not that hungry after all
  }

  /** Drop every fetched-ahead message (this client is flushing the broker: they would come back after it). */
  discardAhead(): void {
    for (const inbox of this.inboxes.values()) inbox.buffer = [];
  }

  /** Reject every receive (the broker is gone for good, or the layer closes). */
  failAll(reason: unknown): void {
    const inboxes = [...this.inboxes.values()];
    this.inboxes.clear();
    for (const inbox of inboxes) {
      if (inbox.inflight && !inbox.inflight.aborted) inbox.inflight.fail(reason);
      for (const call of inbox.held) call.fail(reason);
    }
  }

  /** Send the next held receive; mark the inbox for a look once the tick is over. */
  private promote(inbox: Inbox): void {
    const next = inbox.held.shift();
    if (next !== undefined) {
      inbox.inflight = next;
      this.host.submit(next);
    }
    if (inbox.inflight === undefined) this.touch(inbox);
  }

  private touch(inbox: Inbox): void {
    this.touched.add(inbox.channel);
    if (!this.tidyQueued) {
      this.tidyQueued = true;
      setImmediate(this.tidy);
    }
  }

  /** After the tick: unclaimed prefetched messages go back, idle inboxes go. */
  private readonly tidy = (): void => {
    this.tidyQueued = false;
    for (const channel of this.touched) {
      const inbox = this.inboxes.get(channel);
      if (inbox === undefined || inbox.inflight !== undefined || inbox.held.length > 0) continue;
      this.giveBackFrom(inbox);
      this.inboxes.delete(channel);
    }
    this.touched.clear();
  };
}

/** Resolve a receive with a body from the broker (or reject it, if the body is not a message). */
function settleWith(call: Call, body: unknown): void {
  let message: Message;
  try {
    if (!(body instanceof Uint8Array)) throw new Error("no body");
    message = decodeMessage(body);
  } catch (err) {
    return call.fail(new ProtocolError(`the broker answered a receive with a body that is not a message: ${(err as Error).message}`));
  }
  call.fulfil(message);
}
