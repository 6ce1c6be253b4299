/**
 * The client side of the broker protocol, transport-agnostic: the layer's
 * calls as typed requests (encoded by encode.ts, answers read by decode.ts),
 * sent through the pipeline (pipeline.ts: request ids, one write per tick,
 * receives as long polls), and the connection: hello, heartbeats, and
 * reconnecting with backoff. RemoteChannelLayer gives it socket links; the
 * IPC layer a socket link to its parent's broker.
 */
import { decodeMessageView, encodeMessage } from "../dependencies/msgpack.js";
import type { ReplyCache } from "../request/cache.js";
import { BaseLayer } from "../base.js";
import { ConnectionLostError, LayerClosedError } from "../errors.js";
import type { GroupHistory, HistoryPosition, Message, PresenceInfo, PresencePage, PresenceQuery } from "../layer.js";
import { presenceQuery } from "../options/presence.js";
import { PendingReceive } from "../client/pending-receive.js";
import { clientSettings, frameLimit, OwnSettings, type ProtocolLayerOptions } from "./client-options.js";
import { answerError, answerHello, bundleAnswers, decodeAnswer, read, type Answer, type Request } from "./decode.js";
import { encodeRequest } from "./encode.js";
import type { Link, LinkHandlers } from "./link.js";
import { instanceIdOf, newInstanceSecret } from "./identity.js";
import type { BrokerLayerStats } from "../stats.js";
import { CONNECTION_ID, Feature, Op, PROTOCOL_VERSION, Status, type BrokerDetails, type BrokerStats } from "./ops.js";
import { Pipeline } from "./pipeline.js";
import { BrokerReplyCache } from "./reply-cache.js";
import { Restorer } from "./restore.js";
import { Silence } from "./silence.js";
import { MAX_HISTORY_READ } from "./history.js";
import { writer } from "./writer.js";

export type { ProtocolLayerOptions } from "./client-options.js";

export interface Connector {
  /** Where links go, for messages. */
  readonly address: string;
  /** Open a new link to the broker; its frames and its end go to `handlers`. */
  connect(handlers: LinkHandlers): Link;
}

export abstract class ProtocolLayer extends BaseLayer {
  readonly extensions = ["groups", "flush", "priority"] as const;
  protected override readonly wideInts = true;
  private readonly pipeline: Pipeline;
  /** The connection's link, from its opening; requests go on it once hello is answered (`ready`). */
  private link: Link | undefined;
  private ready = false;
  private helloId = 0;
  /** This instance's own secret, presented in every hello: its instanceId derives from it (identity.ts). */
  private readonly secret: string;
  /** Set when the broker stayed unreachable past connectTimeout: calls fail fast until it is back. */
  private down = false;
  /** A refusal that retrying cannot fix (token, protocol version). */
  private failure: Error | undefined;
  private shuttingDown = false;
  private onLinkClosed: (() => void) | undefined;
  private downTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  /** Heartbeats since the broker last sent anything. */
  private readonly silence = new Silence();
  private backoff = 0;
  /** Links opened so far: every one after the first is a reconnect. */
  private linksOpened = 0;
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
  private readonly ownSettings: OwnSettings;

  constructor(
    private readonly connector: Connector,
    options: ProtocolLayerOptions = {},
  ) {
    const secret = newInstanceSecret();
    super(options, "connecting", instanceIdOf(secret));
    this.secret = secret;
    const settings = clientSettings(options);
    this.token = settings.token;
    this.connectTimeout = settings.connectTimeout;
    this.maxReconnectDelay = settings.maxReconnectDelay;
    this.ownSettings = new OwnSettings(options);
    this.pipeline = new Pipeline(settings.prefetch, settings.receiveLinger, settings.reportsPerTurn, connector.address);
    this.restorer = new Restorer(this.config.groupExpiry, (request) => this.call(request, read.nothing), (reason) => this.reportGap(reason));
    this.heartbeat = setInterval(() => this.beat(), settings.heartbeatInterval);
    this.heartbeat.unref();
    this.connect();
  }

  /** The broker's channels, queued messages, groups, members, clients and counters, and this layer's link. */
  async stats(): Promise<BrokerLayerStats> {
    if (this.closed) throw new LayerClosedError();
    const broker: BrokerStats = await this.call({ op: Op.Stats, id: 0, top: undefined }, read.stats);
    return {
      backend: this.backendName,
      scope: "broker",
      ...broker,
      client: { connected: this.ready, reconnects: Math.max(0, this.linksOpened - 1), pendingRequests: this.pipeline.size },
      requests: this.requester.stats(),
    };
  }

  /** Cached replies live in the broker, shared by every client (docs/request.md). */
  protected override makeReplyCache(): ReplyCache {
    return new BrokerReplyCache((request, answer) => this.call(request, answer));
  }

  /** The broker's stats with its `top` busiest channels, largest groups and clients with the most waiting receives (1–100). */
  details(top = 10): Promise<BrokerStats & BrokerDetails> {
    if (this.closed) return Promise.reject(new LayerClosedError());
    return this.call({ op: Op.Stats, id: 0, top }, read.stats);
  }

  protected doSend(channel: string, message: Message, priority: number | undefined): Promise<void> {
    return this.call({ op: Op.Send, id: 0, channel, body: writer.message(message), priority }, read.nothing);
  }

  protected doReceive(channel: string, signal: AbortSignal | undefined): Promise<Message> {
    if (this.failure || this.down) return Promise.reject(this.failure ?? this.lostError());
    const caller = new PendingReceive<Message>();
    const handle = this.pipeline.receives.add(channel, caller);
    // Taken back at once: a poll nobody waits for any more is withdrawn, and what it still brings goes to the next caller or back.
    if (signal && handle) caller.listen(signal, (reason) => handle.cancel() && caller.fail(reason));
    return caller.promise;
  }

  protected doGroupAdd(group: string, channel: string, presence: PresenceInfo | undefined): Promise<void> {
    const info = presence === undefined ? undefined : encodeMessage(presence as Message);
    const added = this.call({ op: Op.GroupAdd, id: 0, group, channel, expiry: undefined, presence: info }, read.nothing);
    return this.restorer.onGroupAdd(group, channel, added, info);
  }

  protected override readonly keepsPresence = true;

  /** A page of `group`'s presence entries, oldest first (docs/presence.md); needs the token's group right. */
  presence(group: string, query?: PresenceQuery): Promise<PresencePage> {
    // Async, so that a wrong query rejects rather than throws.
    return this.readPresence(group, async () => this.call({ op: Op.Presence, id: 0, group, ...presenceQuery(query) }, read.presencePage));
  }

  /** How many presence entries `group` has. */
  presenceCount(group: string): Promise<number> {
    return this.readPresence(group, () => this.call({ op: Op.PresenceCount, id: 0, group }, read.count));
  }

  protected doGroupDiscard(group: string, channel: string): Promise<void> {
    this.restorer.onGroupDiscard(group, channel);
    return this.call({ op: Op.GroupDiscard, id: 0, group, channel }, read.nothing);
  }

  protected doGroupSend(group: string, message: Message, priority: number | undefined, except: ReadonlySet<string> | undefined): Promise<void> {
    return this.call({ op: Op.GroupSend, id: 0, group, body: writer.message(message), priority, except }, read.nothing);
  }

  protected override async doGroupHistory(group: string, since: HistoryPosition | undefined, limit: number, reader: string | undefined): Promise<GroupHistory> {
    // The broker caps the limit too; past the cap a resume is recovered: false there, never cut short.
    const request: Request = { op: Op.GroupHistory, id: 0, group, since, limit: Math.min(limit, MAX_HISTORY_READ), reader };
    const { epoch, offset, recovered, first, bodies } = await this.call(request, read.history);
    const messages: GroupHistory["messages"] = [];
    // A null stands for a message the reader was left out of (its offset still counts).
    bodies.forEach((body, i) => {
      if (body !== null) messages.push({ position: { epoch, offset: first + i }, message: decodeMessageView(body) });
    });
    return { messages, position: { epoch, offset }, recovered };
  }

  protected doFlush(): Promise<void> {
    const giveBack = this.pipeline.receives.discardAhead();
    this.restorer.onFlush();
    const flushed = this.call({ op: Op.Flush, id: 0 }, read.nothing);
    giveBack();
    return flushed;
  }

  /** Send `request` (its id is given on the way) and await what `answer` reads from the answer. */
  private call<T>(request: Request, answer: (answer: Answer) => T): Promise<T> {
    if (this.failure || this.down) return Promise.reject(this.failure ?? this.lostError());
    return this.pipeline.call(request, answer);
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    this.linksOpened++;
    this.helloId = this.pipeline.newId();
    const link: Link = this.connector.connect({
      onFrame: (frame) => this.onFrame(link, frame),
      onMalformed: () => link.close(),
      onClosed: (err) => this.onClosed(link, err),
    });
    this.link = link;
    this.silence.onArrival();
    const hello = {
      op: Op.Hello,
      id: this.helloId,
      version: PROTOCOL_VERSION,
      instanceId: this.instanceId,
      token: this.token ?? null,
      secret: this.secret,
      features: Feature.Bundles,
    };
    link.send([encodeRequest(hello)]);
    this.startDownTimer();
  }

  private onFrame(link: Link, frame: unknown): void {
    if (link !== this.link) return;
    this.silence.onArrival();
    const answer = decodeAnswer(frame);
    if (answer === undefined) return link.close();
    if (answer.id === CONNECTION_ID) {
      if (answer.status !== Status.Bundle || !this.ready) return link.close(); // the broker found our frames wrong; start afresh
      const answers = bundleAnswers(answer);
      if (answers === undefined) return link.close();
      for (const one of answers) this.pipeline.onAnswer(one);
      return;
    }
    if (this.ready) return this.pipeline.onAnswer(answer);
    if (answer.id === this.helloId) this.hello(link, answer);
  }

  private hello(link: Link, answer: Answer): void {
    if (answer.status !== Status.Ok) {
      const err = answerError(answer);
      if (!(err instanceof ConnectionLostError)) {
        // A wrong token or protocol version does not get better by retrying.
        this.failure = err;
        this.pipeline.failAll(err);
        this.setState("failed");
      }
      return link.close();
    }
    const info = answerHello(answer);
    this.ownSettings.compare(info, this.connector.address);
    this.ready = true;
    this.backoff = 0;
    this.down = false;
    clearTimeout(this.downTimer);
    this.downTimer = undefined;
    this.pipeline.open(link, frameLimit(info), () => this.restorer.hello(info));
    this.setState("ready");
    this.pipeline.write();
  }

  private onClosed(link: Link, err: Error | undefined): void {
    if (link !== this.link) return;
    if (err) this.lastError = err;
    this.link = undefined;
    this.ready = false;
    this.pipeline.onLinkLost();
    if (this.shuttingDown) {
      this.pipeline.failAll(new LayerClosedError());
      // close() may be waiting for answers this link will never bring, or for this very close.
      this.pipeline.onDrained?.();
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
      this.pipeline.failAll(this.lostError());
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

  private beat(): void {
    if (!this.ready) return;
    if (this.silence.beat()) return this.link!.close(); // the broker is gone; the close starts a reconnect
    this.pipeline.beat();
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
    this.pipeline.stopTimers();
    const link = this.link;
    // Polls are cancelled in the broker; the callers hear of it once that is done.
    const waiting = this.pipeline.receives.takeWaiting();
    if (link === undefined || !this.ready) {
      this.pipeline.failAll(new LayerClosedError());
    } else {
      // Entries this layer made end now, announced, not after the broker's reconnect grace (docs/presence.md).
      if (this.restorer.hasPresence) this.call({ op: Op.Depart, id: 0 }, read.nothing).catch(() => {});
      if (this.pipeline.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          this.pipeline.onDrained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      this.pipeline.receives.giveBackAll();
      this.pipeline.write(); // the requeues
    }
    // The link may have gone while close() waited (the broker closing at the same time): then there is nothing to wait for.
    if (link !== undefined && this.link === link) {
      const closed = new Promise<void>((resolve) => (this.onLinkClosed = resolve));
      link.close();
      await closed;
    }
    this.pipeline.onDrained = undefined;
    // Told last, so that their rejections are not left unhandled while close was still at work.
    for (const call of waiting) call.fail(new LayerClosedError("the channel layer was closed while this receive waited"));
  }
}
