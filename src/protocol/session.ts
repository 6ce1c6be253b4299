/**
 * One connected client, as the broker sees it: hello (version, token,
 * instance id), then every request validated field by field and run on the
 * shared engine, its waiting receives, and its cleanup when it goes. Nothing
 * a client sends can throw out of here: a bad request is answered with an
 * error, a bad frame ends this connection only.
 */
import type { GroupDelivery, Taken, Waiter, WaitHandle } from "../engine/engine.js";
import { AuthenticationError, ConnectionLostError, ForbiddenError, MessageTooLargeError, ProtocolError } from "../errors.js";
import { assertChannelName, assertGroupName, assertOwnChannel, isProcessLocal, ownsChannel } from "../names.js";
import { HeldAhead } from "./ahead.js";
import { SETTLE_WAIT_MS, type SettleWait } from "./settling.js";
import { EVERYTHING, type Grant } from "./auth.js";
import { errorToWire } from "./errors.js";
import { fanTurn } from "./fan-turn.js";
import { BYTES_PER_TURN, DELIVERIES_PER_TURN, FANOUT_STEP, OUTPUT_BUDGET, REQUESTS_PER_TURN, WRITE_SLICE_BYTES, wireEstimate } from "./limits.js";
import type { Link } from "./link.js";
import { presenceInfoArg, presencePageArgs, presencePageFrame } from "./presence.js";
import { CONNECTION_ID, MAX_RECEIVE_BATCH, MAX_STATS_TOP, Op, PROTOCOL_VERSION, Status, type HelloInfo } from "./ops.js";
import type { SessionHost, Viewer } from "./session-host.js";
import { historyArgs, historyReplyBytes } from "./history.js";

/** A receive waiting in the engine for a message. */
export class ReceiveWaiter implements Waiter<Buffer> {
  handle: WaitHandle | undefined;
  constructor(
    readonly session: Session,
    readonly id: number,
    readonly channel: string,
    /** Messages it still takes: a standing receive waits again after each until they are all handed over. */
    public credit: number,
    /** Of those, how many receives wait for; the rest is read-ahead. */
    public callers: number,
  ) {}
  deliver(body: Buffer, deadline: number, priority: number, seq: number): boolean {
    return this.session.delivered(this, body, deadline, priority, seq);
  }
}

/** A receive answered with several messages stops adding more past this many bytes. */
const BATCH_BYTES = 128 * 1024;

/** An optional priority field: absent (null) or an integer 0–9. */
function priorityArg(value: unknown): number | undefined {
  if (value == null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 9) {
    throw new ProtocolError(`a priority must be an integer from 0 to 9, got ${String(value)}`);
  }
  return value;
}

/** A GroupSend's optional members to leave out: absent (null) or an array of channel names. Its cost is bounded by the frame's size. */
function exceptArg(value: unknown): ReadonlySet<string> | undefined {
  if (value == null) return undefined;
  if (!Array.isArray(value)) throw new ProtocolError("a group send's except must be an array of channel names");
  for (const name of value) assertChannelName(name, "except channel name");
  return new Set(value as string[]);
}

/** A GroupAdd's optional expiry: absent (null) or positive seconds; the engine caps it at groupExpiry. */
function expiryArg(value: unknown): number | undefined {
  if (value == null) return undefined;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new ProtocolError(`a group expiry must be a positive number of seconds, got ${String(value)}`);
  }
  return value * 1000;
}

const isRequeue = (frame: unknown): boolean => Array.isArray(frame) && frame[0] === Op.Requeue;

/** Frames read behind a send that waits for holders to settle, before the link stops reading. */
const MAX_FRAMES_WHILE_SETTLING = 1024;

const isId = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= 0xffff_ffff;

export class Session {
  instanceId: string | undefined;
  /** When the connection was accepted, in milliseconds since the epoch. */
  readonly since = Date.now();
  private readonly receives = new Map<number, ReceiveWaiter>();
  private out: unknown[] = [];
  /** Estimated encoded bytes of `out`, counted as each answer is queued. */
  private outBytes = 0;
  private flushQueued = false;
  /** Requests received and not yet served: they wait while the client is owed too much, or has had its turn. */
  private inbox: unknown[] = [];
  private inboxAt = 0;
  /** A pump of the inbox is scheduled for the next turn of the event loop. */
  private pumpQueued = false;
  /** Waiting for the client to read what it is owed before serving more of its requests. */
  private blocked = false;
  /** A stats answer waits for the broker's census: the client's further requests wait for it. */
  private counting = false;
  /** The broker turn in which `turnRequests` and `turnBytes` were counted. */
  private turn = -1;
  private turnRequests = 0;
  private turnBytes = 0;
  /** Group members delivered to this turn: a group send costs what it delivers, not one request. */
  private turnDeliveries = 0;
  /** A group send too large for one turn is being delivered a slice a turn: this client's next requests wait for it (FIFO per sender). */
  private fanning = false;
  private helloTimer: NodeJS.Timeout | undefined;
  /** Whether the log already said this client may not store replies (once per connection). */
  private cacheRefused = false;
  /** What this client's token lets it do. */
  private grant: Grant = EVERYTHING;
  private gone = false;
  private heard = true;
  private silentBeats = 0;
  private readonly taken: Taken = { deadline: 0, priority: 0, seq: 0 };
  /** What this client was handed and has not yet said it took or gave back (docs/semantics.md §4.10). */
  private readonly ahead: HeldAhead;
  /** The send at the head of the inbox waits for other clients to settle what they hold (src/protocol/settling.ts). */
  private settleWait: SettleWait | undefined = undefined;
  private settleTimer: NodeJS.Timeout | undefined = undefined;
  /** The frame that has waited: it is decided when served again, whatever the holders say. */
  private waited: unknown = undefined;

  constructor(
    private readonly broker: SessionHost,
    private readonly link: Link,
    readonly id: number,
    readonly peer: string,
    /** Set when the broker is at its connection limit: hello is refused. */
    readonly refused: boolean,
  ) {
    this.helloTimer = setTimeout(() => {
      this.broker.log(`client ${this.id} (${this.peer}) did not say hello within ${broker.helloTimeout} ms`);
      this.end();
    }, broker.helloTimeout);
    this.helloTimer.unref();
    this.ahead = new HeldAhead(broker.engine, broker.settling);
  }

  /** Not yet said hello (and not refused). */
  get unknown(): boolean {
    return this.instanceId === undefined && !this.refused && !this.gone;
  }

  /**
   * A decoded frame from the client. It is served now if the client has had
   * less than its share of this turn and is owed less than its budget;
   * otherwise it waits in the inbox, and the link stops reading until the
   * inbox is served.
   */
  frame(frame: unknown): void {
    this.heard = true;
    if (this.gone) return;
    if (this.settleWait !== undefined) {
      // Reports never wait: other clients' sends may be waiting for them.
      if (isRequeue(frame)) return this.serve(frame);
      // Reading goes on while a send waits, for those reports, up to a bound.
      if (this.inbox.push(frame) - this.inboxAt > MAX_FRAMES_WHILE_SETTLING) this.link.pause?.();
      return;
    }
    if (this.inboxAt === this.inbox.length && !this.held && this.mayServe()) return this.serve(frame);
    this.inbox.push(frame);
    this.link.pause?.();
    if (!this.held) this.queuePump();
  }

  /** Requests wait for something other than the next turn: the client to read, a census, or a group send's slices. */
  private get held(): boolean {
    return this.blocked || this.counting || this.fanning;
  }

  /** Whether one more request may be served now: budget owed and share of the turn. */
  private mayServe(): boolean {
    if (this.counting || this.fanning) return false;
    if (this.turn !== this.broker.turn) {
      this.turn = this.broker.turn;
      this.turnRequests = 0;
      this.turnBytes = 0;
      this.turnDeliveries = 0;
    }
    if (this.turnRequests >= REQUESTS_PER_TURN || this.turnBytes >= BYTES_PER_TURN || this.turnDeliveries >= DELIVERIES_PER_TURN) return false;
    if (this.outBytes + (this.link.buffered ?? 0) > OUTPUT_BUDGET) {
      this.blocked = true;
      this.link.pause?.();
      return false;
    }
    this.turnRequests++;
    this.broker.nextTurn();
    return true;
  }

  private queuePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(this.pump);
  }

  /** Serve what waits in the inbox, as far as budget and turn allow. */
  private readonly pump = (): void => {
    this.pumpQueued = false;
    while (this.inboxAt < this.inbox.length && !this.gone) {
      if (this.settleWait !== undefined) return;
      if (this.inbox[this.inboxAt] === undefined) {
        this.inboxAt++; // a report served while a send waited
        continue;
      }
      if (!this.mayServe()) {
        if (!this.held) this.queuePump();
        return;
      }
      const frame = this.inbox[this.inboxAt];
      this.inbox[this.inboxAt++] = undefined;
      this.serve(frame);
    }
    this.inbox = [];
    this.inboxAt = 0;
    if (!this.gone) this.link.resume?.();
  };

  /**
   * Whether `frame` is a send that must first wait for other clients to
   * settle what they hold ahead of its channel (src/protocol/settling.ts). If so
   * it goes back to the head of the inbox until the wait ends, and reports
   * already read behind it are served now.
   */
  private mustWait(frame: unknown): boolean {
    if (!Array.isArray(frame) || typeof frame[2] !== "string") return false;
    const settling = this.broker.settling;
    const wait =
      frame[0] === Op.Send ? settling.forSend(frame[2], this.settled)
      : frame[0] === Op.GroupSend ? settling.forGroupSend(frame[2], this.settled)
      : undefined;
    if (wait === undefined) return false;
    this.settleWait = wait;
    this.waited = frame;
    this.settleTimer = setTimeout(this.settled, SETTLE_WAIT_MS);
    if (this.inboxAt > 0) this.inbox[--this.inboxAt] = frame;
    else this.inbox.unshift(frame);
    for (let i = this.inboxAt + 1; i < this.inbox.length && !this.gone; i++) {
      if (!isRequeue(this.inbox[i])) continue;
      const report = this.inbox[i];
      this.inbox[i] = undefined;
      this.serve(report);
    }
    return true;
  }

  /** The wait of the send at the head of the inbox is over (met or timed out): serve on. */
  private readonly settled = (): void => {
    if (this.settleWait === undefined) return;
    this.settleWait.over = true;
    this.settleWait = undefined;
    clearTimeout(this.settleTimer);
    if (!this.gone && !this.blocked) this.queuePump();
  };

  /** The link wrote what it held: a client blocked on its budget may be served again. */
  drained(): void {
    if (!this.blocked || this.gone) return;
    if (this.outBytes + (this.link.buffered ?? 0) > OUTPUT_BUDGET) return;
    this.blocked = false;
    this.pump();
  }

  private serve(frame: unknown): void {
    if (frame === this.waited) this.waited = undefined;
    else if (this.instanceId !== undefined && this.mustWait(frame)) return;
    try {
      this.request(frame);
    } catch (err) {
      // Requests answer their own errors; anything reaching here is a fault of this session's, and ends it only.
      this.broker.log(`client ${this.id} (${this.peer}) closed: ${(err as Error).message}`);
      this.end();
    }
  }

  private request(frame: unknown): void {
    if (!Array.isArray(frame) || frame.length < 2 || typeof frame[0] !== "number" || !isId(frame[1])) {
      return this.fatal("a request must be an array [op, id, ...args] with a uint32 id of at least 1");
    }
    const op = frame[0];
    const id = frame[1];
    if (this.instanceId === undefined) {
      if (op !== Op.Hello) return this.fatal("the first request on a connection must be hello");
      return this.hello(id, frame);
    }
    const timed = this.broker.onRequest;
    if (timed === undefined) return this.run(op, id, frame);
    const start = performance.now();
    this.run(op, id, frame);
    timed(op, (performance.now() - start) / 1000);
  }

  /** Receives of this client waiting for a message. */
  get pendingReceives(): number {
    return this.receives.size;
  }

  private run(op: number, id: number, frame: unknown[]): void {
    try {
      this.dispatch(op, id, frame);
    } catch (err) {
      this.reply([id, Status.Error, ...errorToWire(err)]);
    }
  }

  /** The link sent bytes that are not frames. */
  malformed(err: Error): void {
    this.fatal(err.message);
  }

  private hello(id: number, [, , version, instanceId, token, secret]: unknown[]): void {
    let refusal: Error | undefined;
    let grant: Grant | undefined;
    let attached: { resumed: boolean } | undefined;
    if (this.refused) {
      refusal = new ConnectionLostError(`the broker is at its connection limit (${this.broker.maxConnections}); retry later`);
    } else if (version !== PROTOCOL_VERSION) {
      refusal = new ProtocolError(
        `protocol version ${String(version)} is not supported: this broker speaks version ${PROTOCOL_VERSION}; ` +
          "use the same channel-layers version on client and broker",
      );
    } else if ((grant = this.broker.grantFor(token)) === undefined) {
      refusal = new AuthenticationError(
        token == null ? "the broker requires a token: pass { token } to the layer" : "the broker refused the token",
      );
    } else if (!this.broker.validInstanceId(instanceId)) {
      refusal = new ProtocolError("hello: instanceId must be 1 to 64 ASCII letters and digits");
    } else if ((attached = this.broker.attach(instanceId, secret)) === undefined) {
      refusal = new AuthenticationError(
        `instance id "${instanceId}" is not the one derived from the secret presented (docs/broker.md "Instance identity")`,
      );
    }
    if (refusal !== undefined) {
      this.broker.log(`client ${this.id} (${this.peer}) refused: ${refusal.message}`);
      this.reply([id, Status.Error, ...errorToWire(refusal)]);
      return this.end();
    }
    clearTimeout(this.helloTimer);
    this.link.admit?.();
    this.instanceId = instanceId as string;
    this.grant = grant!;
    const { resumed } = attached!;
    this.broker.log(`client ${this.id} connected (${this.peer}, instance ${this.instanceId})`);
    const { maxMessageBytes, expiry, groupExpiry, capacity } = this.broker.config;
    const info: HelloInfo = {
      version: PROTOCOL_VERSION,
      maxMessageBytes,
      maxFrameBytes: this.broker.maxFrameBytes,
      expiry,
      groupExpiry,
      capacity: capacity.defaultCapacity,
      epoch: this.broker.epoch,
      resumed,
    };
    this.reply([id, Status.Ok, info]);
  }

  private dispatch(op: number, id: number, frame: unknown[]): void {
    const engine = this.broker.engine;
    switch (op) {
      case Op.Send: {
        const channel = this.channelArg(frame[2]);
        this.allowed(this.grant.send(channel), `send to channel "${channel}"`);
        engine.send(channel, this.bodyArg(frame[3]), priorityArg(frame[4]));
        break;
      }
      case Op.Receive: {
        const max = frame[3] ?? 1;
        if (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > MAX_RECEIVE_BATCH) {
          throw new ProtocolError(`receive: the batch size must be an integer from 1 to ${MAX_RECEIVE_BATCH}`);
        }
        const watch = frame[4] === 2;
        const callers = frame[5] ?? (watch ? 0 : max);
        if (typeof callers !== "number" || !Number.isInteger(callers) || callers < 0 || callers > max) {
          throw new ProtocolError("receive: callers must be an integer from 0 to the batch size");
        }
        return this.receive(id, this.channelArg(frame[2]), max, frame[4] === 1 || watch, watch, callers);
      }
      case Op.Cancel: {
        const waiter = this.receives.get(id);
        if (waiter === undefined) return; // already answered: the client requeues what it got
        this.receives.delete(id);
        waiter.handle!.cancel();
        return this.reply([id, Status.Cancelled]);
      }
      case Op.Requeue: {
        // Gives back only what this session was handed (its HeldAhead): nothing to check against its rights.
        // Not answered: the client does not wait for it. A wrong one ends the session.
        if (frame.length < 5 || (frame.length - 2) % 3 !== 0) return this.fatal("requeue must be [op, id, (channel, took, rest (0 or 1))…]");
        for (let i = 2; i < frame.length; i += 3) {
          const channel = frame[i];
          const took = frame[i + 1];
          const rest = frame[i + 2];
          if (typeof channel !== "string" || typeof took !== "number" || !Number.isInteger(took) || took < 0 || (rest !== 0 && rest !== 1)) {
            return this.fatal("requeue must be [op, id, (channel, took, rest (0 or 1))…]");
          }
          try {
            this.ahead.settle(channel, took, rest === 1);
          } catch (err) {
            return this.fatal((err as Error).message);
          }
        }
        return;
      }
      case Op.GroupAdd:
      case Op.GroupDiscard: {
        const group = frame[2];
        assertGroupName(group);
        const channel = this.channelArg(frame[3]);
        this.allowed(this.grant.group(group) && this.mayReceive(channel), `change group "${group}" for channel "${channel}"`);
        if (op === Op.GroupDiscard) engine.groupDiscard(group, channel);
        else if (frame[5] == null) engine.groupAdd(group, channel, expiryArg(frame[4]));
        else engine.groupAdd(group, channel, expiryArg(frame[4]), { info: presenceInfoArg(frame[5], this.broker.config.maxMessageBytes), owner: this.instanceId });
        break;
      }
      case Op.Presence:
      case Op.PresenceCount: {
        const group = frame[2];
        assertGroupName(group);
        this.allowed(this.grant.group(group), `read the presence of group "${group}"`);
        if (op === Op.PresenceCount) return this.reply([id, Status.Ok, engine.presenceCount(group)]);
        const { limit, after } = presencePageArgs(frame[3], frame[4]);
        return this.reply([id, Status.Ok, ...presencePageFrame(engine.presencePage(group, after, limit))]);
      }
      case Op.Depart:
        engine.departOwner(this.instanceId!);
        break;
      case Op.GroupSend: {
        const group = frame[2];
        assertGroupName(group);
        this.allowed(this.grant.group(group), `send to group "${group}"`);
        const sent = engine.groupSend(group, this.bodyArg(frame[3]), priorityArg(frame[4]), exceptArg(frame[5]), FANOUT_STEP);
        this.turnDeliveries += sent.delivered + sent.skipped;
        if (sent.more !== undefined) return this.fanOut(id, sent.more);
        break;
      }
      case Op.GroupHistory:
        return this.history(id, frame);
      case Op.Flush:
        this.allowed(this.grant.admin, "flush the broker (an admin right)");
        engine.flush();
        break;
      case Op.Ping:
        break;
      case Op.Stats: {
        const top = frame[2] ?? undefined;
        if (top !== undefined && (typeof top !== "number" || !Number.isInteger(top) || top < 1 || top > MAX_STATS_TOP)) {
          throw new ProtocolError(`stats: top must be an integer from 1 to ${MAX_STATS_TOP}`);
        }
        // Other clients' connections, and names outside this token's rights, are an admin's to see.
        return this.counted(id, top, this.grant.admin ? undefined : { instance: this.instanceId!, grant: this.grant });
      }
      case Op.CacheGet: {
        this.cacheKeyArg(frame[2]);
        const entry = this.broker.replies.lookup(frame[2] as string);
        if (entry === undefined) this.broker.replyMisses++;
        else this.broker.replyHits++;
        return this.reply([id, Status.Ok, entry?.bytes ?? null, entry?.storedAt ?? 0], (entry?.bytes.length ?? 0) + 32);
      }
      case Op.CacheSet: {
        const key = this.cacheKeyArg(frame[2]);
        // Only who may take the requests may store their answers: a mere sender of the channel could store its own.
        const channel = key.slice(0, key.lastIndexOf(":"));
        if (!this.mayReceive(channel) && !this.cacheRefused) {
          this.cacheRefused = true; // said once per connection: its requests are answered, their replies not cached
          this.broker.log(`client ${this.id} (${this.peer}) may not store replies of "${channel}" in the reply cache: its token may not receive from it`);
        }
        this.allowed(this.mayReceive(channel), `store replies in the reply cache of channel "${channel}" (that needs the right to receive from it)`);
        const ttl = frame[4];
        if (typeof ttl !== "number" || !(ttl > 0 && ttl <= 86_400_000)) throw new ProtocolError("cache set: the ttl must be milliseconds from 1 to a day");
        this.broker.replies.setEncoded(this.grant, key, this.bodyArg(frame[3]), ttl / 1000);
        break;
      }
      case Op.Hello:
        throw new ProtocolError("hello was already said on this connection");
      default:
        throw new ProtocolError(`unknown op ${op}`);
    }
    this.reply([id, Status.Ok]);
  }

  /**
   * Deliver the rest of group send `id` a turn's share at a time (fanTurn),
   * other clients' requests served in between; then answer it and serve on.
   */
  private fanOut(id: number, more: () => GroupDelivery): void {
    this.fanning = true;
    const step = (): void => {
      if (this.gone) {
        // The sender is gone, its send is not: the broker delivers the rest, so later sends to the group are not held behind it.
        this.broker.engine.adopt(more);
        return;
      }
      const left = fanTurn(more);
      this.broker.nextTurn();
      if (left !== undefined) {
        more = left;
        setImmediate(step);
        return;
      }
      this.fanning = false;
      this.reply([id, Status.Ok]);
      this.queuePump();
    };
    setImmediate(step);
  }

  /**
   * Answer a stats op. Its figures may need a census walked over several
   * turns of the event loop (see Census); until then this client's further
   * requests wait, so a client has one such answer in the making at most.
   */
  private counted(id: number, top: number | undefined, only: Viewer | undefined): void {
    let later = false;
    this.counting = true;
    this.broker.statsAnswer(top, only, ({ value, bytes }) => {
      this.counting = false;
      if (this.gone) return;
      this.reply([id, Status.Ok, value], bytes + 16);
      if (later) this.queuePump();
    });
    later = true;
  }

  /**
   * Answer with up to `max` queued messages at once, or wait for the next one;
   * a `standing` receive keeps waiting until it has handed over `max`.
   */
  private receive(id: number, channel: string, max: number, standing: boolean, watch: boolean, callers: number): void {
    assertOwnChannel(channel, this.instanceId!);
    this.allowed(this.mayReceive(channel), `receive from channel "${channel}"`);
    if (this.receives.has(id)) throw new ProtocolError(`request id ${id} already names a waiting receive`);
    if (this.receives.size >= this.broker.maxPendingReceives) {
      throw new ProtocolError(`too many waiting receives on one connection (limit ${this.broker.maxPendingReceives})`);
    }
    const engine = this.broker.engine;
    // A watch takes nothing queued: a message held ahead of others still queued would let another client's receive pass it.
    if (watch && engine.size(channel) > 0) return this.reply([id, Status.Ok]);
    let credit = standing ? max : 1;
    // No read-ahead past messages another client holds (it may give them back, and they are older).
    if (this.othersHold(channel)) {
      if (callers === 0) return this.reply([id, Status.Ok]);
      max = Math.min(max, callers);
      credit = Math.min(credit, callers);
    }
    let body = engine.take(channel, this.taken);
    if (body !== undefined) {
      const answer: unknown[] = [id, Status.Ok, body, this.taken.deadline, this.taken.priority];
      this.ahead.handed(channel, body, this.taken.deadline, this.taken.priority, this.taken.seq!);
      let bytes = body.length;
      while (answer.length < 2 + 3 * max && bytes < BATCH_BYTES && (body = engine.take(channel, this.taken)) !== undefined) {
        answer.push(body, this.taken.deadline, this.taken.priority);
        this.ahead.handed(channel, body, this.taken.deadline, this.taken.priority, this.taken.seq!);
        bytes += body.length;
      }
      credit -= (answer.length - 2) / 3;
      // Only a receive that emptied the queue may wait: a waiter is only ever handed what arrives later.
      if (credit <= 0 || body !== undefined || bytes >= BATCH_BYTES) return this.reply(answer);
      answer[1] = Status.Partial;
      this.reply(answer);
    }
    const waiter = new ReceiveWaiter(this, id, channel, credit, Math.max(0, callers - (standing ? max - credit : 0)));
    this.receives.set(id, waiter);
    waiter.handle = engine.wait(channel, waiter);
  }

  /** The engine hands a message to one of this session's waiting receives. */
  delivered(waiter: ReceiveWaiter, body: Buffer, deadline: number, priority: number, seq: number): boolean {
    if (this.gone || this.receives.get(waiter.id) !== waiter) return false;
    if (waiter.callers === 0 && this.othersHold(waiter.channel)) {
      // Read-ahead past what another client holds: the receive ends here, and the message goes on.
      this.receives.delete(waiter.id);
      this.reply([waiter.id, Status.Ok]);
      return false;
    }
    if (waiter.callers > 0) waiter.callers--;
    this.ahead.handed(waiter.channel, body, deadline, priority, seq);
    if (--waiter.credit > 0) {
      this.reply([waiter.id, Status.Partial, body, deadline, priority]);
      // At the back of the line again, so other receivers of a worker channel get their turn (docs/semantics.md §4.2).
      waiter.handle = this.broker.engine.wait(waiter.channel, waiter);
    } else {
      this.receives.delete(waiter.id);
      this.reply([waiter.id, Status.Ok, body, deadline, priority]);
    }
    return true;
  }

  /** Whether other clients hold messages of `channel` ahead. */
  private othersHold(channel: string): boolean {
    return this.broker.engine.aheadOf(channel) > this.ahead.holds(channel);
  }

  /** Its own process-local channels are every client's; other channels as its token grants. */
  private mayReceive(channel: string): boolean {
    return (isProcessLocal(channel) && ownsChannel(channel, this.instanceId!)) || this.grant.receive(channel);
  }

  private allowed(ok: boolean, what: string): void {
    if (!ok) throw new ForbiddenError(`this client's token does not allow it to ${what}`);
  }

  private channelArg(value: unknown): string {
    assertChannelName(value);
    if (isProcessLocal(value)) this.broker.track(value);
    return value;
  }

  /** Answer a history read (docs/recovery.md): only of a group this client's grants cover, bounded in count and bytes. */
  private history(id: number, frame: unknown[]): void {
    const group = frame[2];
    assertGroupName(group);
    this.allowed(this.grant.group(group), `read the history of group "${group}"`);
    const [since, limit, reader] = historyArgs(frame);
    const read = this.broker.engine.groupHistory(group, since, limit, historyReplyBytes(this.broker.maxFrameBytes), reader);
    const first = read.messages[0]?.position.offset ?? read.position.offset + 1;
    // Consecutive from `first`: a message the reader was left out of (its `except`) is a null in its place.
    const bodies: Array<Buffer | null> = [];
    let bytes = 64;
    for (const { position, message } of read.messages) {
      while (first + bodies.length < position.offset) bodies.push(null);
      bodies.push(message);
      bytes += message.length + 8;
    }
    this.reply([id, Status.Ok, read.position.epoch, read.position.offset, read.recovered ? 1 : 0, first, ...bodies], bytes);
  }

  /** A reply cache key, `<channel>:<digest>`: asking or storing needs the right to send to that channel. */
  private cacheKeyArg(value: unknown): string {
    if (typeof value !== "string" || value.length > 200) throw new ProtocolError("a cache key must be a string of at most 200 characters");
    const colon = value.lastIndexOf(":");
    if (colon < 1) throw new ProtocolError("a cache key must be <channel>:<digest>");
    const channel = value.slice(0, colon);
    assertChannelName(channel, "cache key channel");
    this.allowed(this.grant.send(channel), `use the reply cache of channel "${channel}"`);
    return value;
  }

  /** A message body: opaque bytes, copied so it does not pin the socket chunk it arrived in. */
  private bodyArg(value: unknown): Buffer {
    if (!(value instanceof Uint8Array)) throw new ProtocolError("a message body must be msgpack bin (bytes)");
    const limit = this.broker.config.maxMessageBytes;
    if (value.length > limit) throw new MessageTooLargeError(value.length, limit);
    return Buffer.from(value);
  }

  /** Queue an answer; `bytes`, its estimated size when the caller knows it. */
  private reply(frame: unknown[], bytes = wireEstimate(frame)): void {
    this.outBytes += bytes;
    this.turnBytes += bytes;
    this.out.push(frame);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flush);
    }
  }

  /**
   * Everything answered in one tick leaves in one write, encoded a slice of
   * about WRITE_SLICE_BYTES at a time. A failure to encode or write ends
   * this session, never the broker.
   */
  private readonly flush = (): void => {
    this.flushQueued = false;
    if (this.out.length === 0 || this.gone) return;
    const frames = this.out;
    const estimated = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    try {
      if (estimated <= WRITE_SLICE_BYTES) this.link.send(frames);
      else this.sendSliced(frames);
    } catch (err) {
      this.broker.log(`client ${this.id} (${this.peer}) closed: its answers could not be written: ${(err as Error).message}`);
      this.cleanup();
      this.link.close();
      return;
    }
    if (this.blocked) setImmediate(() => this.drained());
  };

  private sendSliced(frames: unknown[]): void {
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < frames.length; i++) {
      bytes += wireEstimate(frames[i]);
      if (bytes >= WRITE_SLICE_BYTES || i === frames.length - 1) {
        this.link.send(frames.slice(from, i + 1));
        from = i + 1;
        bytes = 0;
      }
    }
  }

  /** Heartbeat check: a client silent for three beats is gone. */
  beat(): void {
    if (this.heard) {
      this.heard = false;
      this.silentBeats = 0;
    } else if (++this.silentBeats >= 3) {
      this.broker.log(
        this.blocked
          ? `client ${this.id} (${this.peer}) has not read its answers for three heartbeats`
          : `client ${this.id} (${this.peer}) missed its heartbeats`,
      );
      this.end();
    }
  }

  private fatal(message: string): void {
    this.broker.log(`client ${this.id} (${this.peer}) sent a bad frame: ${message}`);
    this.reply([CONNECTION_ID, Status.Error, "ERR_PROTOCOL", message]);
    this.end();
  }

  /** Say what is left to say, then end the link. */
  end(): void {
    if (this.gone) return;
    this.flush();
    this.cleanup();
    this.link.close();
  }

  /** The link is gone (from the transport). */
  closed(): void {
    if (!this.gone) this.cleanup();
  }

  private cleanup(): void {
    this.gone = true;
    clearTimeout(this.helloTimer);
    clearTimeout(this.settleTimer);
    if (this.settleWait !== undefined) this.settleWait.over = true;
    this.inbox = [];
    for (const waiter of this.receives.values()) waiter.handle!.cancel();
    this.receives.clear();
    // Gone or dead: what it held ahead goes back now, not after a grace (docs/semantics.md §4.10).
    if (!this.broker.closed) this.ahead.giveBackAll();
    this.out = [];
    this.outBytes = 0;
    this.broker.detach(this);
    if (this.instanceId !== undefined) this.broker.log(`client ${this.id} disconnected (${this.peer})`);
  }
}
