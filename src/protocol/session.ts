/**
 * One connected client, as the broker sees it: hello (hello.ts), then every
 * request, decoded and checked field by field (decode.ts), admitted in turn
 * (admission.ts) and run on the shared engine against this client's rights;
 * its waiting receives (waiting.ts), its answers (replies.ts), its heartbeat
 * and its cleanup when it goes. Nothing a client sends can throw out of here:
 * a bad request is answered with an error, a bad frame ends this connection
 * only.
 */
import type { GroupDelivery } from "../engine/engine.js";
import { ForbiddenError, ProtocolError } from "../errors.js";
import { assertOwnChannel, isProcessLocal, ownsChannel } from "../names.js";
import { Admission } from "./admission.js";
import { EVERYTHING, type Grant } from "./auth.js";
import { askedOp, BAD, cacheKeyChannel, decodeRequest, type BadRequest, type CacheSetRequest, type GroupHistoryRequest, type HelloRequest, type Request } from "./decode.js";
import { answer } from "./encode.js";
import { judgeHello } from "./hello.js";
import { historyReplyBytes } from "./history.js";
import { fanTurn } from "./fan-turn.js";
import { FANOUT_STEP } from "./limits.js";
import type { Link } from "./link.js";
import { Feature, Op } from "./ops.js";
import { presencePageFrame } from "./presence.js";
import { Replies } from "./replies.js";
import type { SessionHost, Viewer } from "./session-host.js";
import { Silence } from "./silence.js";
import { WaitingReceives } from "./waiting.js";

export class Session {
  instanceId: string | undefined;
  /** When the connection was accepted, in milliseconds since the epoch. */
  readonly since = Date.now();
  private readonly replies: Replies;
  private readonly admission: Admission;
  private readonly receives: WaitingReceives;
  private helloTimer: NodeJS.Timeout | undefined;
  /** Whether the log already said this client may not store replies (once per connection). */
  private cacheRefused = false;
  /** What this client's token lets it do. */
  private grant: Grant = EVERYTHING;
  private ended = false;
  /** Heartbeats since the client last sent anything. */
  private readonly silence = new Silence();

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
    }, broker.helloTimeout).unref();
    this.replies = new Replies(link, {
      onQueued: (bytes) => this.admission.charge(bytes),
      onWritten: () => this.admission.afterWrite(),
      onWriteFailed: (err) => {
        this.broker.log(`client ${this.id} (${this.peer}) closed: its answers could not be written: ${err.message}`);
        this.cleanup();
        this.link.close();
      },
    });
    this.admission = new Admission(broker, link, this.replies, (request) => this.serve(request), () => this.instanceId !== undefined);
    this.receives = new WaitingReceives(broker, this.replies);
  }

  /** Not yet said hello (and not refused). */
  get awaitingHello(): boolean {
    return this.instanceId === undefined && !this.refused && !this.ended;
  }

  /** Receives of this client waiting for a message. */
  get pendingReceives(): number {
    return this.receives.size;
  }

  /** A decoded frame from the client: admitted now or after what waits before it. */
  onFrame(frame: unknown): void {
    this.silence.onArrival();
    if (this.ended) return;
    this.admission.arrive(decodeRequest(frame, this.broker.config.maxMessageBytes));
  }

  /** The link wrote what it held: a client blocked on its budget may be served again. */
  onDrained(): void {
    this.admission.onDrained();
  }

  /** The link sent bytes that are not frames. */
  onMalformed(err: Error): void {
    this.fatal(err.message);
  }

  private serve(request: Request | BadRequest): void {
    try {
      if (request.op === BAD && request.asked === undefined) return this.fatal(request.error.message);
      const op = askedOp(request)!;
      if (this.instanceId === undefined) {
        if (request.op !== Op.Hello) return this.fatal("the first request on a connection must be hello");
        return this.hello(request);
      }
      const timed = this.broker.onRequest;
      if (timed === undefined) return this.run(request);
      const start = performance.now();
      this.run(request);
      timed(op, (performance.now() - start) / 1000);
    } catch (err) {
      // Requests answer their own errors; anything reaching here is a fault of this session's, and ends it only.
      this.broker.log(`client ${this.id} (${this.peer}) closed: ${(err as Error).message}`);
      this.end();
    }
  }

  private run(request: Request | BadRequest): void {
    try {
      if (request.op !== BAD) return this.dispatch(request);
      if (request.fatal) return this.fatal(request.error.message);
      this.replies.send(answer.error(request.id, request.error));
    } catch (err) {
      this.replies.send(answer.error(request.id, err));
    }
  }

  private hello(request: HelloRequest): void {
    const verdict = judgeHello(this.broker, request, this.refused);
    if (verdict.refusal !== undefined) {
      this.broker.log(`client ${this.id} (${this.peer}) refused: ${verdict.refusal.message}`);
      this.replies.send(answer.error(request.id, verdict.refusal));
      return this.end();
    }
    clearTimeout(this.helloTimer);
    this.link.admit?.();
    this.instanceId = verdict.instanceId;
    this.grant = verdict.grant;
    // Only a client that offered bundles gets them (the Python client and older ones do not).
    this.replies.bundling = ((request.features ?? 0) & Feature.Bundles) !== 0;
    this.broker.log(`client ${this.id} connected (${this.peer}, instance ${this.instanceId})`);
    this.replies.send(answer.with(request.id, verdict.info));
  }

  private dispatch(request: Request): void {
    const engine = this.broker.engine;
    const id = request.id;
    switch (request.op) {
      case Op.Send: {
        const channel = this.track(request.channel);
        this.assertAllowed(this.grant.send(channel), `send to channel "${channel}"`);
        engine.send(channel, request.body, request.priority);
        break;
      }
      case Op.Receive: {
        const channel = this.track(request.channel);
        assertOwnChannel(channel, this.instanceId!);
        this.assertAllowed(this.mayReceive(channel), `receive from channel "${channel}"`);
        return this.receives.receive(request);
      }
      case Op.Cancel:
        return this.receives.cancel(id);
      case Op.Requeue:
        // Gives back only what this session was handed (its HeldAhead): nothing to check against its rights.
        for (const { channel, took, rest } of request.settles) {
          try {
            this.receives.settle(channel, took, rest);
          } catch (err) {
            return this.fatal((err as Error).message);
          }
        }
        return;
      case Op.GroupAdd:
      case Op.GroupDiscard: {
        const { group } = request;
        const channel = this.track(request.channel);
        this.assertAllowed(this.grant.group(group) && this.mayReceive(channel), `change group "${group}" for channel "${channel}"`);
        if (request.op === Op.GroupDiscard) engine.groupDiscard(group, channel);
        else {
          const expiryMs = request.expiry === undefined ? undefined : request.expiry * 1000;
          const presence = request.presence === undefined ? undefined : { info: request.presence, owner: this.instanceId };
          engine.groupAdd(group, channel, expiryMs, presence);
        }
        break;
      }
      case Op.Presence:
      case Op.PresenceCount: {
        const { group } = request;
        this.assertAllowed(this.grant.group(group), `read the presence of group "${group}"`);
        if (request.op === Op.PresenceCount) return this.replies.send(answer.with(id, engine.presenceCount(group)));
        return this.replies.send(answer.with(id, ...presencePageFrame(engine.presencePage(group, request.after, request.limit))));
      }
      case Op.Depart:
        engine.departOwner(this.instanceId!);
        break;
      case Op.GroupSend: {
        const { group } = request;
        this.assertAllowed(this.grant.group(group), `send to group "${group}"`);
        const sent = engine.groupSend(group, request.body, request.priority, request.except, FANOUT_STEP);
        this.admission.chargeDeliveries(sent.delivered + sent.skipped);
        if (sent.more !== undefined) return this.fanOut(id, sent.more);
        break;
      }
      case Op.GroupHistory:
        return this.history(request);
      case Op.Flush:
        this.assertAllowed(this.grant.admin, "flush the broker (an admin right)");
        engine.flush();
        break;
      case Op.Ping:
        break;
      case Op.Stats:
        // Other clients' connections, and names outside this token's rights, are an admin's to see.
        return this.answerStats(id, request.top, this.grant.admin ? undefined : { instance: this.instanceId!, grant: this.grant });
      case Op.CacheGet: {
        const channel = cacheKeyChannel(request.key);
        this.assertAllowed(this.grant.send(channel), `use the reply cache of channel "${channel}"`);
        const entry = this.broker.replies.lookup(request.key);
        if (entry === undefined) this.broker.replyMisses++;
        else this.broker.replyHits++;
        return this.replies.send(answer.with(id, entry?.bytes ?? null, entry?.storedAt ?? 0), (entry?.bytes.length ?? 0) + 32);
      }
      case Op.CacheSet:
        this.cacheSet(request);
        break;
      case Op.Hello:
        throw new ProtocolError("hello was already said on this connection");
    }
    this.replies.send(answer.ok(id));
  }

  /**
   * Deliver the rest of group send `id` a turn's share at a time (fanTurn),
   * other clients' requests served in between; then answer it and serve on.
   */
  private fanOut(id: number, more: () => GroupDelivery): void {
    this.admission.awaitFanOut(true);
    const step = (): void => {
      if (this.ended) {
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
      this.admission.awaitFanOut(false);
      this.replies.send(answer.ok(id));
      this.admission.serveOn();
    };
    setImmediate(step);
  }

  /**
   * Answer a stats op. Its figures may need a census walked over several
   * turns of the event loop (see Census); until then this client's further
   * requests wait, so a client has one such answer in the making at most.
   */
  private answerStats(id: number, top: number | undefined, only: Viewer | undefined): void {
    let later = false;
    this.admission.awaitCensus(true);
    this.broker.statsAnswer(top, only, ({ value, bytes }) => {
      this.admission.awaitCensus(false);
      if (this.ended) return;
      this.replies.send(answer.with(id, value), bytes + 16);
      if (later) this.admission.serveOn();
    });
    later = true;
  }

  /** Answer a history read (docs/recovery.md): only of a group this client's grants cover, bounded in count and bytes. */
  private history({ id, group, since, limit, reader }: GroupHistoryRequest): void {
    this.assertAllowed(this.grant.group(group), `read the history of group "${group}"`);
    const { frame, bytes } = answer.history(id, this.broker.engine.groupHistory(group, since, limit, historyReplyBytes(this.broker.maxFrameBytes), reader));
    this.replies.send(frame, bytes);
  }

  /** Store a reply: asking or storing needs the right to send to the key's channel, storing also the right to receive from it. */
  private cacheSet({ key, body, ttlMs }: CacheSetRequest): void {
    const channel = cacheKeyChannel(key);
    this.assertAllowed(this.grant.send(channel), `use the reply cache of channel "${channel}"`);
    // Only who may take the requests may store their answers: a mere sender of the channel could store its own.
    if (!this.mayReceive(channel) && !this.cacheRefused) {
      this.cacheRefused = true; // said once per connection: its requests are answered, their replies not cached
      this.broker.log(`client ${this.id} (${this.peer}) may not store replies of "${channel}" in the reply cache: its token may not receive from it`);
    }
    this.assertAllowed(this.mayReceive(channel), `store replies in the reply cache of channel "${channel}" (that needs the right to receive from it)`);
    this.broker.replies.setEncoded(this.grant, key, body, ttlMs / 1000);
  }

  /** A process-local channel named in a request is remembered, to clean up when its instance goes. */
  private track(channel: string): string {
    if (isProcessLocal(channel)) this.broker.track(channel);
    return channel;
  }

  /** Its own process-local channels are every client's; other channels as its token grants. */
  private mayReceive(channel: string): boolean {
    return (isProcessLocal(channel) && ownsChannel(channel, this.instanceId!)) || this.grant.receive(channel);
  }

  private assertAllowed(ok: boolean, what: string): void {
    if (!ok) throw new ForbiddenError(`this client's token does not allow it to ${what}`);
  }

  /** Heartbeat check: a client silent for three beats is gone. */
  beat(): void {
    if (!this.silence.beat()) return;
    this.broker.log(
      this.admission.overBudget
        ? `client ${this.id} (${this.peer}) has not read its answers for three heartbeats`
        : `client ${this.id} (${this.peer}) missed its heartbeats`,
    );
    this.end();
  }

  private fatal(message: string): void {
    this.broker.log(`client ${this.id} (${this.peer}) sent a bad frame: ${message}`);
    this.replies.send(answer.fatal(message));
    this.end();
  }

  /** Say what is left to say, then end the link. */
  end(): void {
    if (this.ended) return;
    this.replies.flush();
    this.cleanup();
    this.link.close();
  }

  /** The link is gone (from the transport). */
  onClosed(): void {
    if (!this.ended) this.cleanup();
  }

  private cleanup(): void {
    this.ended = true;
    clearTimeout(this.helloTimer);
    this.admission.end();
    this.receives.end();
    this.replies.stop();
    this.broker.detach(this);
    if (this.instanceId !== undefined) this.broker.log(`client ${this.id} disconnected (${this.peer})`);
  }
}
