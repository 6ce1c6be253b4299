/**
 * The client side of the broker protocol, transport-agnostic: request ids and
 * the calls awaiting answers, auto-pipelining (every request made in one tick
 * leaves in one write), receives as long polls, cancellation that loses
 * nothing, heartbeats, and reconnecting with backoff. RemoteChannelLayer gives
 * it socket links; the IPC layer a socket link to its parent's broker.
 */
import { decodeMessage, decodeMessageView, encodeMessage } from "../dependencies/msgpack.js";
import type { ReplyCache } from "../request/cache.js";
import { BaseLayer } from "../base.js";
import { ConnectionLostError, LayerClosedError, ProtocolError } from "../errors.js";
import type { GroupHistory, HistoryPosition, LayerOptions, Message, PresenceInfo, PresencePage, PresenceQuery } from "../layer.js";
import { presenceQuery } from "../options/presence.js";
import { delayOption, positiveOrOff } from "../options/positive-option.js";
import { PendingReceive } from "../client/pending-receive.js";
import { Call, Outgoing } from "./calls.js";
import { errorFromWire } from "./errors.js";
import type { Link, LinkHandlers } from "./link.js";
import { instanceIdOf, newInstanceSecret } from "./identity.js";
import type { BrokerLayerStats } from "../stats.js";
import { CONNECTION_ID, MAX_RECEIVE_BATCH, Op, PROTOCOL_VERSION, Status, type BrokerDetails, type BrokerStats, type HelloInfo } from "./ops.js";
import { readPresencePage } from "./presence.js";
import { Poll, Receives } from "./receives.js";
import { Restorer } from "./restore.js";
import { MAX_HISTORY_READ } from "./history.js";
import { writer } from "./writer.js";

export interface Connector {
  /** Where links go, for messages. */
  readonly address: string;
  /** Open a new link to the broker; its frames and its end go to `handlers`. */
  connect(handlers: LinkHandlers): Link;
}

export interface ProtocolLayerOptions extends LayerOptions {
  /** Shared secret the broker requires, if it requires one. */
  token?: string;
  /** Milliseconds calls wait for an unreachable broker before rejecting with ConnectionLostError. Default 10,000. */
  connectTimeout?: number;
  /** Milliseconds between heartbeats; the broker is presumed gone after 3 silent ones. Default 5000. */
  heartbeatInterval?: number;
  /** Longest wait between reconnect attempts, in milliseconds. Default 2000. */
  maxReconnectDelay?: number;
  /**
   * Most messages a channel's standing receive brings ahead of the callers
   * while they receive in a tight loop; unclaimed ones go back within the
   * tick. 0 turns it off. Default 32.
   */
  prefetch?: number;
  /**
   * Milliseconds a channel stays watched after a receive on it was served and
   * nobody waits: a message that arrives meanwhile (at most one is held) goes
   * to the next receive without a request, or back to the channel's head when
   * the linger ends or the layer closes. 0 turns it off. Default 10.
   */
  receiveLinger?: number;
  /**
   * Report what receives took once per turn of the event loop instead of
   * before each receive resolves. A receive loop then writes about once per
   * prefetch window instead of once per message; the trade is the name: a
   * process killed mid-turn may have messages it already handed to
   * application code (up to the prefetch window per channel) handed to
   * another consumer too (docs/broker.md "Read-ahead and capacity"). Default
   * false: at most once, even across a crash.
   */
  redeliverOnCrash?: boolean;
}

const NO_BODIES: unknown[] = [];

/**
 * Most requests one write carries. Past this many, what is queued leaves at
 * once rather than at the end of the tick, so the broker starts on it while
 * the client makes the rest: with client and broker on two cores they then
 * work at the same time instead of in turn (measured on the bench's
 * `concurrent`, 64 senders: 150k -> 250k messages/s; on one shared core the
 * cost is a write per this many requests).
 */
const WRITE_BATCH = 32;

/** Layer options that are the broker's to set. */
const SETTINGS = ["expiry", "groupExpiry", "capacity"] as const;

export abstract class ProtocolLayer extends BaseLayer {
  readonly extensions = ["groups", "flush", "priority"] as const;
  protected override readonly wideInts = true;
  /** Requests awaiting answers: calls, and the polls of receives. */
  private readonly pending = new Map<number, Call | Poll>();
  private outbox: Outgoing[] = [];
  private readonly receives: Receives;
  private link: Link | undefined;
  private ready = false;
  private helloId = 0;
  /** This instance's own secret, presented in every hello: its instanceId derives from it (identity.ts). */
  private readonly secret: string;
  /** Largest stream frame the broker accepts, from its hello (older brokers: their fixed margin over maxMessageBytes). */
  private splitBytes: number | undefined;
  private lastId = 0;
  private flushQueued = false;
  /** `redeliverOnCrash`: reports wait for the end of the turn (setImmediate), owned here until close. */
  private readonly reportsPerTurn: boolean;
  private reportTimer: NodeJS.Immediate | undefined = undefined;
  /** Set when the broker stayed unreachable past connectTimeout: calls fail fast until it is back. */
  private down = false;
  /** A refusal that retrying cannot fix (token, protocol version). */
  private failure: Error | undefined;
  private shuttingDown = false;
  private onDrained: (() => void) | undefined;
  private onLinkClosed: (() => void) | undefined;
  private downTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private heard = false;
  private wrote = false;
  private silentBeats = 0;
  private backoff = 0;
  private links = 0;
  /** What `stats()` names this backend ("broker"; the IPC layer says "ipc"). */
  protected readonly backendName: string = "broker";
  /** Why the last link failed, for the message of ConnectionLostError. */
  private lastError: Error | undefined;
  private readonly token: string | undefined;
  private readonly connectTimeout: number;
  private readonly maxReconnectDelay: number;
  /** What this layer joined, and bringing it back on a broker that lost it (docs/semantics.md §5). */
  private readonly restorer: Restorer;
  /** Broker settings this layer was given explicitly, compared once with the broker's. */
  private ownSettings: Partial<Record<(typeof SETTINGS)[number], number>> | undefined;

  constructor(
    private readonly connector: Connector,
    options: ProtocolLayerOptions = {},
  ) {
    const secret = newInstanceSecret();
    super(options, "connecting", instanceIdOf(secret));
    this.secret = secret;
    if (options.token !== undefined && typeof options.token !== "string") throw new TypeError("token must be a string");
    this.token = options.token;
    this.connectTimeout = delayOption(options.connectTimeout, "connectTimeout (ms)", 10_000);
    this.maxReconnectDelay = delayOption(options.maxReconnectDelay, "maxReconnectDelay (ms)", 2000);
    const heartbeatInterval = delayOption(options.heartbeatInterval, "heartbeatInterval (ms)", 5000);
    const prefetch = options.prefetch ?? 32;
    if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch >= MAX_RECEIVE_BATCH) {
      throw new RangeError(`prefetch must be an integer from 0 to ${MAX_RECEIVE_BATCH - 1}, got ${String(prefetch)}`);
    }
    const receiveLinger = positiveOrOff(options.receiveLinger, "receiveLinger (ms)", 10);
    if (options.redeliverOnCrash !== undefined && typeof options.redeliverOnCrash !== "boolean") {
      throw new TypeError(`redeliverOnCrash must be true or false, got ${String(options.redeliverOnCrash)}`);
    }
    this.reportsPerTurn = options.redeliverOnCrash === true;
    this.ownSettings = { expiry: options.expiry, groupExpiry: options.groupExpiry, capacity: options.capacity };
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
            this.enqueue(new Outgoing([Op.Cancel, poll.id]));
          }
        },
        giveBack: (channel, took) => this.enqueue(new Outgoing([Op.Requeue, this.newId(), channel, took, 1])),
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
    this.restorer = new Restorer(this.config.groupExpiry, (frame) => this.call(frame), (reason) => this.reportGap(reason));
    this.heartbeat = setInterval(() => this.beat(), heartbeatInterval);
    this.heartbeat.unref();
    this.connect();
  }

  /** The broker's channels, queued messages, groups, members, clients and counters, and this layer's link. */
  async stats(): Promise<BrokerLayerStats> {
    if (this.closed) throw new LayerClosedError();
    const broker = await this.call<BrokerStats>([Op.Stats, 0]);
    return {
      backend: this.backendName,
      scope: "broker",
      ...broker,
      client: { connected: this.ready, reconnects: Math.max(0, this.links - 1), pendingRequests: this.pending.size },
      requests: this.requester.stats(),
    };
  }

  /** Cached replies live in the broker, shared by every client (docs/request.md). */
  protected override makeReplyCache(): ReplyCache {
    return {
      get: async (key) => {
        const [body, storedAt] = await this.call<[Uint8Array | null, number]>([Op.CacheGet, 0, key]);
        return body === null ? undefined : { reply: decodeMessage(body), storedAt };
      },
      set: (key, reply, seconds) => this.call<undefined>([Op.CacheSet, 0, key, encodeMessage(reply), Math.min(86_400_000, Math.max(1, Math.round(seconds * 1000)))]),
    };
  }

  /** The broker's stats with its `top` busiest channels, largest groups and clients with the most waiting receives (1–100). */
  details(top = 10): Promise<BrokerStats & BrokerDetails> {
    if (this.closed) return Promise.reject(new LayerClosedError());
    return this.call([Op.Stats, 0, top]);
  }

  protected doSend(channel: string, message: Message, priority: number | undefined): Promise<void> {
    const body = writer.message(message);
    return this.call(priority === undefined ? [Op.Send, 0, channel, body] : [Op.Send, 0, channel, body, priority]);
  }

  protected doReceive(channel: string, signal: AbortSignal | undefined): Promise<Message> {
    if (this.failure || this.down) return Promise.reject(this.failure ?? this.lostError());
    const caller = new PendingReceive<Message>();
    const handle = this.receives.add(channel, caller);
    // Taken back at once: a poll nobody waits for any more is withdrawn, and what it still brings goes to the next caller or back.
    if (signal && handle) caller.listen(signal, (reason) => handle.cancel() && caller.fail(reason));
    return caller.promise;
  }

  protected doGroupAdd(group: string, channel: string, presence: PresenceInfo | undefined): Promise<void> {
    if (presence === undefined) return this.restorer.added(group, channel, this.call([Op.GroupAdd, 0, group, channel]));
    const info = encodeMessage(presence as Message);
    return this.restorer.added(group, channel, this.call([Op.GroupAdd, 0, group, channel, null, info]), info);
  }

  protected override readonly keepsPresence = true;

  /** A page of `group`'s presence entries, oldest first (docs/presence.md); needs the token's group right. */
  presence(group: string, query?: PresenceQuery): Promise<PresencePage> {
    return this.readPresence(group, async () => {
      const { limit, after } = presenceQuery(query);
      const [entries, next] = await this.call<[unknown, unknown]>(after < 0 ? [Op.Presence, 0, group, limit] : [Op.Presence, 0, group, limit, after]);
      return readPresencePage(entries, next);
    });
  }

  /** How many presence entries `group` has. */
  presenceCount(group: string): Promise<number> {
    return this.readPresence(group, () => this.call<number>([Op.PresenceCount, 0, group]));
  }

  protected doGroupDiscard(group: string, channel: string): Promise<void> {
    this.restorer.discarded(group, channel);
    return this.call([Op.GroupDiscard, 0, group, channel]);
  }

  protected doGroupSend(group: string, message: Message, priority: number | undefined, except: ReadonlySet<string> | undefined): Promise<void> {
    const body = writer.message(message);
    // Without `except` the frame is the one it always was.
    if (except !== undefined) return this.call([Op.GroupSend, 0, group, body, priority ?? null, [...except]]);
    return this.call(priority === undefined ? [Op.GroupSend, 0, group, body] : [Op.GroupSend, 0, group, body, priority]);
  }

  protected override async doGroupHistory(group: string, since: HistoryPosition | undefined, limit: number, channel: string | undefined): Promise<GroupHistory> {
    // The broker caps the limit too; past the cap a resume is recovered: false there, never cut short.
    const wireLimit = Math.min(limit, MAX_HISTORY_READ);
    const frame: unknown[] = [Op.GroupHistory, 0, group, since?.epoch ?? null, since?.offset ?? 0, wireLimit];
    // Without a reader the frame is the one it always was.
    if (channel !== undefined) frame.push(channel);
    const [epoch, offset, recovered, first, ...bodies] = await this.call<[string, number, number, number, ...Array<Uint8Array | null>]>(frame);
    const messages: GroupHistory["messages"] = [];
    // A null stands for a message the reader was left out of (its offset still counts).
    bodies.forEach((body, i) => {
      if (body !== null) messages.push({ position: { epoch, offset: first + i }, message: decodeMessageView(body) });
    });
    return {
      messages,
      position: { epoch, offset },
      recovered: recovered === 1,
    };
  }

  protected doFlush(): Promise<void> {
    const giveBack = this.receives.discardAhead();
    this.restorer.cleared();
    const flushed = this.call<void>([Op.Flush, 0]);
    giveBack();
    return flushed;
  }

  /** Send a request frame (its id slot is filled in here) and await the answer. */
  private call<T>(frame: unknown[]): Promise<T> {
    if (this.failure || this.down) return Promise.reject(this.failure ?? this.lostError());
    frame[1] = this.newId();
    const call = new Call(frame);
    this.pending.set(call.id, call);
    this.enqueue(call);
    return call.promise as Promise<T>;
  }

  private newId(): number {
    this.lastId = this.lastId >= 0xffff_ffff ? 1 : this.lastId + 1;
    return this.lastId;
  }

  private enqueue(out: Outgoing): void {
    if (this.outbox.push(out) >= WRITE_BATCH) return this.write();
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.writeOut);
    }
  }

  /** Auto-pipelining: what is queued during a tick goes out in one write at its end (in several past WRITE_BATCH). */
  private readonly writeOut = (): void => {
    this.flushQueued = false;
    this.write();
  };

  /** The turn is over: what receives took in it is reported, and a watch still queued goes (unless a write since took them along). */
  private readonly reportOut = (): void => {
    this.reportTimer = undefined;
    if (!this.flushQueued) this.write();
  };

  private write(): void {
    const link = this.link;
    if (!this.ready || link === undefined) return;
    const frames: unknown[] = [];
    // Messages taken are reported first: anything this client does after taking one comes after (docs/semantics.md §4.10).
    const reports = this.receives.takeReports();
    if (reports.length > 0) frames.push([Op.Requeue, this.newId(), ...reports]);
    for (const out of this.outbox) {
      if (out.dropped) continue;
      out.link = link;
      // A poll asks for as many messages as this client has receives waiting on its channel, and its prefetch.
      if (out instanceof Poll) this.receives.credit(out);
      frames.push(out.frame);
    }
    this.outbox = [];
    if (frames.length === 0) return;
    this.wrote = true;
    link.send(frames, this.splitBytes);
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    this.links++;
    this.helloId = this.newId();
    const link: Link = this.connector.connect({
      frame: (frame) => this.onFrame(link, frame),
      malformed: () => link.close(),
      closed: (err) => this.onClosed(link, err),
    });
    this.link = link;
    this.heard = true;
    link.send([[Op.Hello, this.helloId, PROTOCOL_VERSION, this.instanceId, this.token ?? null, this.secret]]);
    this.startDownTimer();
  }

  private onFrame(link: Link, frame: unknown): void {
    if (link !== this.link) return;
    this.heard = true;
    if (!Array.isArray(frame) || typeof frame[0] !== "number" || typeof frame[1] !== "number") return link.close();
    const id = frame[0];
    const status = frame[1];
    if (id === CONNECTION_ID) return link.close(); // the broker found our frames wrong; start afresh
    if (!this.ready) {
      if (id === this.helloId) this.hello(link, status, frame);
      return;
    }
    const call = this.pending.get(id);
    if (call === undefined) return; // answers to requeues and pings
    if (call instanceof Poll) {
      // [id, Ok | Partial, body, deadline, priority, …]; an aborted poll's bodies go to the next in line or back.
      if (status === Status.Partial) return this.receives.answered(call, frame, false);
      this.pending.delete(id);
      if (status === Status.Ok) this.receives.answered(call, frame, true);
      else if (status === Status.Cancelled) this.receives.answered(call, NO_BODIES, true);
      else this.receives.failed(call, wireFailure(id, status, frame));
    } else {
      this.pending.delete(id);
      if (status === Status.Ok) call.fulfil(answerOf(call.op, frame));
      else call.fail(wireFailure(id, status, frame));
    }
    if (this.onDrained && this.pending.size === 0) this.onDrained();
  }

  private hello(link: Link, status: number, frame: unknown[]): void {
    if (status === Status.Ok) {
      this.splitBytes = frameLimit(frame[2]);
      this.compareSettings(frame[2]);
      this.ready = true;
      this.backoff = 0;
      this.down = false;
      clearTimeout(this.downTimer);
      this.downTimer = undefined;
      // What the broker lost is asked for again ahead of every call made meanwhile (outbox order is wire order).
      const queued = this.outbox;
      this.outbox = [];
      this.restorer.hello(frame[2]);
      this.outbox.push(...queued);
      this.setState("ready");
      this.write();
      return;
    }
    const err = errorFromWire(frame[2], frame[3], frame[4]);
    if (!(err instanceof ConnectionLostError)) {
      // A wrong token or protocol version does not get better by retrying.
      this.failure = err;
      this.failAll(err);
      this.setState("failed");
    }
    link.close();
  }

  /**
   * Expiry and capacity are the broker's. A layer given other values
   * explicitly is told so once, rather than left to believe they apply.
   */
  private compareSettings(info: unknown): void {
    const mine = this.ownSettings;
    this.ownSettings = undefined;
    if (mine === undefined || typeof info !== "object" || info === null) return;
    const broker = info as Partial<HelloInfo>;
    const differ = SETTINGS.filter((key) => mine[key] !== undefined && broker[key] !== undefined && broker[key] !== mine[key]);
    if (differ.length === 0) return;
    process.emitWarning(
      `the broker at ${this.connector.address} sets ${differ.map((k) => `${k}=${broker[k]}`).join(", ")}; ` +
        `this layer's ${differ.map((k) => `${k}=${mine[k]}`).join(", ")} has no effect (the broker's settings apply to every client)`,
      { code: "CHANNEL_LAYERS_BROKER_SETTINGS" },
    );
  }

  private onClosed(link: Link, err: Error | undefined): void {
    if (link !== this.link) return;
    if (err) this.lastError = err;
    this.link = undefined;
    this.ready = false;
    // The broker gave back everything it had handed us: nothing brought is ours any more.
    this.receives.linkLost();
    this.outbox = this.outbox.filter((out) => out.frame[0] !== Op.Requeue);
    const resend: Outgoing[] = [];
    for (const call of [...this.pending.values()]) {
      if (call.link === undefined) continue; // not written yet: it waits for the next link
      call.link = undefined;
      if (call instanceof Poll) {
        // A poll resumes on the next link; an aborted one is simply over.
        if (this.receives.lost(call)) resend.push(call);
        else this.pending.delete(call.id);
      } else {
        this.pending.delete(call.id);
        call.fail(new ConnectionLostError(
          `connection to the broker at ${this.connector.address} was lost while this request was in flight; it may or may not have been applied`,
        ));
      }
    }
    this.outbox = [...resend, ...this.outbox];
    if (this.shuttingDown) {
      this.failAll(new LayerClosedError());
      // close() may be waiting for answers this link will never bring, or for this very close.
      this.onDrained?.();
      this.onLinkClosed?.();
      return;
    }
    if (this.failure) return;
    if (this.state === "ready") this.setState("reconnecting");
    const delay = Math.min(this.maxReconnectDelay, 50 * 2 ** this.backoff++);
    this.reconnectTimer = setTimeout(() => this.connect(), delay * (0.5 + Math.random() / 2));
    this.startDownTimer();
  }

  protected override unavailable(): Error {
    return this.closed ? new LayerClosedError() : (this.failure ?? this.lostError());
  }

  private startDownTimer(): void {
    if (this.downTimer !== undefined || this.down) return;
    this.downTimer = setTimeout(() => {
      this.downTimer = undefined;
      if (this.ready) return;
      this.down = true;
      this.failAll(this.lostError());
      this.setState("failed");
    }, this.connectTimeout);
  }

  private lostError(): ConnectionLostError {
    return new ConnectionLostError(
      `the broker at ${this.connector.address} has been unreachable for over ${this.connectTimeout} ms (connectTimeout)` +
        (this.lastError ? ` (last error: ${this.lastError.message})` : "") +
        "; still retrying in the background",
    );
  }

  /** Reject every call, written or not. */
  private failAll(err: Error): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    this.outbox = [];
    this.receives.failAll(err);
    for (const call of calls) if (call instanceof Call) call.fail(err);
    this.onDrained?.();
  }

  private beat(): void {
    if (!this.ready) return;
    if (this.heard) {
      this.heard = false;
      this.silentBeats = 0;
    } else if (++this.silentBeats >= 3) {
      return this.link!.close(); // the broker is gone; the close starts a reconnect
    }
    if (!this.wrote) this.enqueue(new Outgoing([Op.Ping, this.newId()]));
    this.wrote = false;
  }

  /**
   * Pending receives end with LayerClosedError: the broker is told to cancel
   * them, and any message it had already handed over goes back before the
   * link ends (docs/semantics.md §4.6, §4.8).
   */
  protected async doClose(): Promise<void> {
    this.shuttingDown = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.downTimer);
    // Reports waiting for the end of the turn go with the last write below, before the link ends.
    clearImmediate(this.reportTimer);
    this.reportTimer = undefined;
    const link = this.link;
    // Polls are cancelled in the broker; the callers hear of it once that is done.
    const waiting = this.receives.takeWaiting();
    if (link === undefined || !this.ready) {
      this.failAll(new LayerClosedError());
    } else {
      // Entries this layer made end now, announced, not after the broker's reconnect grace (docs/presence.md).
      if (this.restorer.hasPresence) this.call([Op.Depart, 0]).catch(() => {});
      if (this.pending.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          this.onDrained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      this.receives.giveBackAll();
      this.write(); // the requeues
    }
    // The link may have gone while close() waited (the broker closing at the same time): then there is nothing to wait for.
    if (link !== undefined && this.link === link) {
      const closed = new Promise<void>((resolve) => (this.onLinkClosed = resolve));
      link.close();
      await closed;
    }
    this.onDrained = undefined;
    // Told last, so that their rejections are not left unhandled while close was still at work.
    for (const call of waiting) call.fail(new LayerClosedError("the channel layer was closed while this receive waited"));
  }
}

/** The largest stream frame a broker's hello says it accepts (a positive integer), if it says. */
function frameLimit(info: unknown): number | undefined {
  const limit = (info as Partial<HelloInfo> | null)?.maxFrameBytes;
  return typeof limit === "number" && Number.isInteger(limit) && limit > 0 ? limit : undefined;
}

/** What a call resolves with: the values its op answers with, if any. */
function answerOf(op: number, frame: unknown[]): unknown {
  if (op === Op.Stats || op === Op.PresenceCount) return frame[2];
  if (op === Op.CacheGet || op === Op.Presence) return frame.slice(2, 4);
  if (op === Op.GroupHistory) return frame.slice(2);
  return undefined;
}

/** The error an answer other than Ok stands for. */
function wireFailure(id: number, status: number, frame: unknown[]): Error {
  if (status === Status.Error) return errorFromWire(frame[2], frame[3], frame[4]);
  return new ProtocolError(`the broker ended request ${id} unexpectedly`);
}
