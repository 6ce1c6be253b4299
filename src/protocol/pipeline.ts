/**
 * A broker client's requests in flight: request ids, the calls and polls
 * awaiting answers, and auto-pipelining: every request made in one tick
 * leaves in one write at its end (in several past WRITE_BATCH), reports of
 * what receives took first. Answers are routed back to the call or poll they
 * answer. The connection (client.ts) says when a link is ready for writing.
 */
import { ConnectionLostError } from "../errors.js";
import { Call, Outgoing } from "./calls.js";
import { answerBodies, answerError, type Answer, type Request } from "./decode.js";
import { encodeRequest } from "./encode.js";
import type { Link } from "./link.js";
import { Op, Status } from "./ops.js";
import { Poll, Receives } from "./receives.js";

/**
 * Most requests one write carries. Past this many, what is queued leaves at
 * once rather than at the end of the tick, so the broker starts on it while
 * the client makes the rest: with client and broker on two cores they then
 * work at the same time instead of in turn (measured on the bench's
 * `concurrent`, 64 senders: 150k -> 250k messages/s; on one shared core the
 * cost is a write per this many requests).
 */
const WRITE_BATCH = 32;

export class Pipeline {
  /** Requests awaiting answers: calls, and the polls of receives. */
  private readonly pending = new Map<number, Call | Poll>();
  private outbox: Outgoing[] = [];
  readonly receives: Receives;
  /** The link requests are written to: set once the broker answered hello, unset when it drops. */
  private link: Link | undefined = undefined;
  /** Largest stream frame the broker accepts, from its hello. */
  private splitBytes: number | undefined = undefined;
  private lastId = 0;
  private flushQueued = false;
  /** `redeliverOnCrash`: reports wait for the end of the turn (setImmediate), owned here until close. */
  private reportTimer: NodeJS.Immediate | undefined = undefined;
  /** Whether a write went out since the last heartbeat. */
  private wroteSinceBeat = false;
  /** Called whenever the last answer awaited came (close waits for it). */
  onDrained: (() => void) | undefined = undefined;

  constructor(
    prefetch: number,
    receiveLinger: number,
    private readonly reportsPerTurn: boolean,
    /** Where the broker is, for messages. */
    private readonly address: string,
  ) {
    this.receives = new Receives(
      {
        newId: () => this.newId(),
        submit: (poll, watch) => {
          this.pending.set(poll.id, poll);
          // With reports once per turn, a watch waits for the caller's next request (a send, say) or the turn's end:
          // receive, then send, is then one write (docs/broker.md "Read-ahead and capacity").
          if (watch && this.reportsPerTurn) {
            this.outbox.push(poll);
            this.reportTimer ??= setImmediate(this.reportOut);
          } else this.enqueue(poll);
        },
        cancel: (poll) => {
          if (poll.link === undefined) {
            poll.dropped = true;
            this.pending.delete(poll.id);
          } else {
            poll.aborted = true;
            this.enqueue(new Outgoing({ op: Op.Cancel, id: poll.id }));
          }
        },
        giveBack: (channel, took) => this.enqueue(new Outgoing({ op: Op.Requeue, id: this.newId(), settles: [{ channel, took, rest: true }] })),
        report: () => {
          if (this.reportsPerTurn) this.reportTimer ??= setImmediate(this.reportOut);
          else if (!this.flushQueued) {
            this.flushQueued = true;
            process.nextTick(this.writeOut);
          }
        },
      },
      prefetch,
      receiveLinger,
    );
  }

  /** Requests awaiting answers. */
  get size(): number {
    return this.pending.size;
  }

  /** Send `request` (its id is given here) and await the answer, resolved with what `read` takes from it. */
  call<T>(request: Request, read: (answer: Answer) => T): Promise<T> {
    request.id = this.newId();
    const call = new Call(request, read);
    this.pending.set(call.id, call);
    this.enqueue(call);
    return call.promise as Promise<T>;
  }

  newId(): number {
    this.lastId = this.lastId >= 0xffff_ffff ? 1 : this.lastId + 1;
    return this.lastId;
  }

  /** The heartbeat: a ping goes only if nothing was written since the last beat (any frame proves us alive). */
  beat(): void {
    if (!this.wroteSinceBeat) this.enqueue(new Outgoing({ op: Op.Ping, id: this.newId() }));
    this.wroteSinceBeat = false;
  }

  /**
   * The broker answered hello on `link`: `restore` queues what the broker
   * lost ahead of every call made meanwhile (outbox order is wire order).
   * The next write takes them all.
   */
  open(link: Link, splitBytes: number | undefined, restore: () => void): void {
    this.link = link;
    this.splitBytes = splitBytes;
    const queued = this.outbox;
    this.outbox = [];
    restore();
    this.outbox.push(...queued);
  }

  /** An answer from the broker, for the call or poll it answers. */
  onAnswer(answer: Answer): void {
    const { id, status } = answer;
    const call = this.pending.get(id);
    if (call === undefined) return; // answers to requeues and pings
    if (call instanceof Poll) {
      // An aborted poll's bodies go to the next in line or back.
      if (status === Status.Partial) return this.receives.onAnswer(call, answerBodies(answer), false);
      this.pending.delete(id);
      if (status === Status.Ok || status === Status.Cancelled) this.receives.onAnswer(call, answerBodies(answer), true);
      else this.receives.onFailure(call, answerError(answer));
    } else {
      this.pending.delete(id);
      if (status === Status.Ok) call.fulfil(answer);
      else call.fail(answerError(answer));
    }
    if (this.onDrained && this.pending.size === 0) this.onDrained();
  }

  /**
   * The link dropped. The broker gave back everything it had handed us:
   * nothing brought is ours any more. Polls resume on the next link; calls
   * written on it fail, since they may or may not have been applied.
   */
  onLinkLost(): void {
    this.link = undefined;
    this.receives.linkLost();
    this.outbox = this.outbox.filter((out) => out.request.op !== Op.Requeue);
    const resend: Outgoing[] = [];
    for (const call of [...this.pending.values()]) {
      if (call.link === undefined) continue; // not written yet: it waits for the next link
      call.link = undefined;
      if (call instanceof Poll) {
        // An aborted poll is simply over.
        if (this.receives.onLinkLost(call)) resend.push(call);
        else this.pending.delete(call.id);
      } else {
        this.pending.delete(call.id);
        call.fail(new ConnectionLostError(
          `connection to the broker at ${this.address} was lost while this request was in flight; it may or may not have been applied`,
        ));
      }
    }
    this.outbox = [...resend, ...this.outbox];
  }

  /** Reject every call, written or not, and every waiting receive. */
  failAll(err: Error): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    this.outbox = [];
    this.receives.failAll(err);
    for (const call of calls) if (call instanceof Call) call.fail(err);
    this.onDrained?.();
  }

  /** Closing: reports waiting for the end of the turn go with the next write instead. */
  stopTimers(): void {
    clearImmediate(this.reportTimer);
    this.reportTimer = undefined;
  }

  /** Write what is queued now, if a link is ready. */
  write(): void {
    const link = this.link;
    if (link === undefined) return;
    const frames: unknown[] = [];
    // Messages taken are reported first: anything this client does after taking one comes after (docs/semantics.md §4.10).
    const settles = this.receives.takeReports();
    if (settles.length > 0) frames.push(encodeRequest({ op: Op.Requeue, id: this.newId(), settles }));
    for (const out of this.outbox) {
      if (out.dropped) continue;
      out.link = link;
      // A poll asks for as many messages as this client has receives waiting on its channel, and its prefetch.
      if (out instanceof Poll) this.receives.credit(out);
      frames.push(encodeRequest(out.request));
    }
    this.outbox = [];
    if (frames.length === 0) return;
    this.wroteSinceBeat = true;
    link.send(frames, this.splitBytes);
  }

  private enqueue(out: Outgoing): void {
    if (this.outbox.push(out) >= WRITE_BATCH) return this.write();
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.writeOut);
    }
  }

  /** Auto-pipelining: what is queued during a tick goes out in one write at its end. */
  private readonly writeOut = (): void => {
    this.flushQueued = false;
    this.write();
  };

  /** The turn is over: what receives took in it is reported, and a watch still queued goes (unless a write since took them along). */
  private readonly reportOut = (): void => {
    this.reportTimer = undefined;
    if (!this.flushQueued) this.write();
  };
}
