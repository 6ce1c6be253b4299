/**
 * When a session serves its client's next request (docs/security.md, the
 * limits in limits.ts). A request is served at once while the client has had
 * less than its share of this turn of the event loop and is owed less than
 * its output budget; otherwise it waits in the inbox and the link stops
 * reading until the inbox is served. Requests also wait, in order, for a stats
 * answer's census, for a large group send's slices, and for other clients to
 * settle what they hold ahead of a send's channel (settling.ts); reports
 * (Requeue) never wait, since other clients' sends may be waiting for them.
 */
import { askedOp, type BadRequest, type Request } from "./decode.js";
import { BYTES_PER_TURN, DELIVERIES_PER_TURN, OUTPUT_BUDGET, REQUESTS_PER_TURN } from "./limits.js";
import type { Link } from "./link.js";
import { Op } from "./ops.js";
import type { Replies } from "./replies.js";
import type { SessionHost } from "./session-host.js";
import { SETTLE_WAIT_MS, type SettleWait } from "./settling.js";

type Decoded = Request | BadRequest;

const isReport = (request: Decoded | undefined): boolean => request !== undefined && askedOp(request) === Op.Requeue;

/** Frames read behind a send that waits for holders to settle, before the link stops reading. */
const MAX_FRAMES_WHILE_SETTLING = 1024;

export class Admission {
  /** Requests received and not yet served, from `inboxAt` on (a served report leaves a hole). */
  private inbox: (Decoded | undefined)[] = [];
  private inboxAt = 0;
  /** A pump of the inbox is scheduled for the next turn of the event loop. */
  private pumpQueued = false;
  /** Waiting for the client to read what it is owed before serving more of its requests. */
  private budgetExceeded = false;
  /** A stats answer waits for the broker's census: the client's further requests wait for it. */
  private censusPending = false;
  /** A group send too large for one turn is being delivered a slice a turn: the next requests wait for it (FIFO per sender). */
  private fanOutPending = false;
  /** The broker turn in which the `turn…` counts were made. */
  private turn = -1;
  private turnRequests = 0;
  private turnBytes = 0;
  /** Group members delivered to this turn: a group send costs what it delivers, not one request. */
  private turnDeliveries = 0;
  /** The send at the head of the inbox waits for other clients to settle what they hold. */
  private settleWait: SettleWait | undefined = undefined;
  private settleTimer: NodeJS.Timeout | undefined = undefined;
  /** The send that has waited: it is decided when served again, whatever the holders say. */
  private waited: Decoded | undefined = undefined;
  private ended = false;

  constructor(
    private readonly broker: SessionHost,
    private readonly link: Link,
    private readonly replies: Replies,
    /** Serve one request. */
    private readonly serve: (request: Decoded) => void,
    /** Whether the client said hello: before, no request waits for holders to settle. */
    private readonly helloSaid: () => boolean,
  ) {}

  /** A request arrived: served now, or queued in the inbox. */
  arrive(request: Decoded): void {
    if (this.ended) return;
    if (this.settleWait !== undefined) {
      if (isReport(request)) return this.admit(request);
      // Reading goes on while a send waits, for those reports, up to a bound.
      if (this.inbox.push(request) - this.inboxAt > MAX_FRAMES_WHILE_SETTLING) this.link.pause?.();
      return;
    }
    if (this.inboxAt === this.inbox.length && !this.servingPaused && this.mayServe()) return this.admit(request);
    this.inbox.push(request);
    this.link.pause?.();
    if (!this.servingPaused) this.queuePump();
  }

  /** Whether the client is owed more than its budget and not reading it. */
  get overBudget(): boolean {
    return this.budgetExceeded;
  }

  /** Answer bytes queued for the client: counted against its share of the turn. */
  charge(bytes: number): void {
    this.turnBytes += bytes;
  }

  /** Group members a group send delivered to: counted against the client's share of the turn. */
  chargeDeliveries(members: number): void {
    this.turnDeliveries += members;
  }

  /** A stats answer waits for a census (`true`) or came (`false`): the client's further requests wait meanwhile. */
  awaitCensus(pending: boolean): void {
    this.censusPending = pending;
  }

  /** A group send is delivered a slice a turn (`true`) or is done (`false`). */
  awaitFanOut(pending: boolean): void {
    this.fanOutPending = pending;
  }

  /** What waited (a census, a group send's slices) is done: serve the inbox from the next turn. */
  serveOn(): void {
    this.queuePump();
  }

  /** The link wrote what it held: a client over its budget may be served again. */
  onDrained(): void {
    if (!this.budgetExceeded || this.ended) return;
    if (this.replies.owed > OUTPUT_BUDGET) return;
    this.budgetExceeded = false;
    this.pump();
  }

  /** Answers went out: a client over its budget may have read enough by the next turn. */
  afterWrite(): void {
    if (this.budgetExceeded) setImmediate(() => this.onDrained());
  }

  /** The session ended: nothing more is served, and a send's wait is over. */
  end(): void {
    this.ended = true;
    clearTimeout(this.settleTimer);
    if (this.settleWait !== undefined) this.settleWait.over = true;
    this.inbox = [];
  }

  /** Requests wait for something other than the next turn: the client to read, a census, or a group send's slices. */
  private get servingPaused(): boolean {
    return this.budgetExceeded || this.censusPending || this.fanOutPending;
  }

  /** Whether one more request may be served now: budget owed and share of the turn. */
  private mayServe(): boolean {
    if (this.censusPending || this.fanOutPending) return false;
    if (this.turn !== this.broker.turn) {
      this.turn = this.broker.turn;
      this.turnRequests = 0;
      this.turnBytes = 0;
      this.turnDeliveries = 0;
    }
    if (this.turnRequests >= REQUESTS_PER_TURN || this.turnBytes >= BYTES_PER_TURN || this.turnDeliveries >= DELIVERIES_PER_TURN) return false;
    if (this.replies.owed > OUTPUT_BUDGET) {
      this.budgetExceeded = true;
      this.link.pause?.();
      return false;
    }
    this.turnRequests++;
    this.broker.nextTurn();
    return true;
  }

  private queuePump(): void {
    if (this.pumpQueued || this.ended) return;
    this.pumpQueued = true;
    setImmediate(this.pump);
  }

  /** Serve what waits in the inbox, as far as budget and turn allow. */
  private readonly pump = (): void => {
    this.pumpQueued = false;
    while (this.inboxAt < this.inbox.length && !this.ended) {
      if (this.settleWait !== undefined) return;
      if (this.inbox[this.inboxAt] === undefined) {
        this.inboxAt++; // a report served while a send waited
        continue;
      }
      if (!this.mayServe()) {
        if (!this.servingPaused) this.queuePump();
        return;
      }
      const request = this.inbox[this.inboxAt]!;
      this.inbox[this.inboxAt++] = undefined;
      this.admit(request);
    }
    this.inbox = [];
    this.inboxAt = 0;
    if (!this.ended) this.link.resume?.();
  };

  private admit(request: Decoded): void {
    if (request === this.waited) this.waited = undefined;
    else if (this.helloSaid() && this.mustWait(request)) return;
    this.serve(request);
  }

  /**
   * Whether `request` is a send that must first wait for other clients to
   * settle what they hold ahead of its channel (settling.ts). If so it goes
   * back to the head of the inbox until the wait ends, and reports already
   * read behind it are served now.
   */
  private mustWait(request: Decoded): boolean {
    const settling = this.broker.settling;
    const wait =
      request.op === Op.Send ? settling.forSend(request.channel, this.settled)
      : request.op === Op.GroupSend ? settling.forGroupSend(request.group, this.settled)
      : undefined;
    if (wait === undefined) return false;
    this.settleWait = wait;
    this.waited = request;
    this.settleTimer = setTimeout(this.settled, SETTLE_WAIT_MS);
    if (this.inboxAt > 0) this.inbox[--this.inboxAt] = request;
    else this.inbox.unshift(request);
    for (let i = this.inboxAt + 1; i < this.inbox.length && !this.ended; i++) {
      const report = this.inbox[i];
      if (!isReport(report)) continue;
      this.inbox[i] = undefined;
      this.serve(report!);
    }
    return true;
  }

  /** The wait of the send at the head of the inbox is over (met or timed out): serve on. */
  private readonly settled = (): void => {
    if (this.settleWait === undefined) return;
    this.settleWait.over = true;
    this.settleWait = undefined;
    clearTimeout(this.settleTimer);
    if (!this.ended && !this.budgetExceeded) this.queuePump();
  };
}
