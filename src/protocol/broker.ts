/**
 * The broker, transport-agnostic: one engine holding opaque message bodies,
 * the sessions of connected clients, token checks, heartbeats and the
 * cleanup of departed clients' process-local channels. BrokerServer (sockets)
 * and the IPC server feed it links; nothing here knows how bytes travel.
 */
import { randomBytes } from "node:crypto";
import { getHeapStatistics } from "node:v8";
import { Engine, keepTop, WALK_STEP, type EngineStats, type Waiter } from "../engine/engine.js";
import { engineClock, type ClockOption } from "../engine/clock.js";
import { Sweeper } from "../engine/sweeper.js";
import type { LayerOptions, MessageValue } from "../layer.js";
import { deadLetterMessage } from "../message.js";
import { decodeMessage, encodeMessage } from "../dependencies/msgpack.js";
import { isProcessLocal, ownerOf, ownsChannel } from "../names.js";
import { delayOption, positiveOption } from "../options/positive-option.js";
import { resolveOptions, type ResolvedOptions } from "../options/layer-options.js";
import { presenceRules } from "../options/presence.js";
import { DEFAULT_CACHE_BYTES } from "../request/cache.js";
import { frameBytesFor } from "./frames.js";
import { presenceEventBody } from "./presence.js";
import { DELIVERIES_PER_TURN, FANOUT_STEP, FANOUT_TURN_MS, HELLO_TIMEOUT_MS, wireEstimate } from "./limits.js";
import type { Link } from "./link.js";
import { Access, type Grant, type TokenGrant } from "./auth.js";
import { secretProves } from "./identity.js";
import { Census } from "./census.js";
import { MAX_STATS_TOP, type BrokerDetails, type BrokerStats, type ClientInfo } from "./ops.js";
import { ReplyShares } from "./reply-shares.js";
import { Session } from "./session.js";
import type { SessionHost, StatsAnswer, Viewer } from "./session-host.js";
import { Settling } from "./settling.js";
import { stampEncoded } from "./history.js";

export interface BrokerOptions extends LayerOptions {
  /** Shared secret clients must present in hello, granting everything; none when undefined. */
  token?: string;
  /** Several tokens, each with what it grants (instead of `token`). */
  tokens?: TokenGrant[];
  /** Connections served at once; more are refused. Default 10,000. */
  maxConnections?: number;
  /** Receives one connection may have waiting at once. Default 10,000. */
  maxPendingReceives?: number;
  /** Milliseconds between heartbeat checks; a client silent for 3 of them is dropped. Default 5000. */
  heartbeatInterval?: number;
  /**
   * Bytes of messages the broker may hold in all (each counts its body and
   * 64 bytes of bookkeeping); past it a send that would store is refused with
   * BrokerFullError and a group send skips the members it would store for.
   * Default a quarter of the JavaScript heap limit.
   */
  maxStoredBytes?: number;
  /** Milliseconds a new connection has to say hello before it is closed. Default 5000. */
  helloTimeout?: number;
  /** Bytes the shared reply cache of `request(…, { cacheFor })` may hold (LRU), each entry counted with its overhead; split equally among tokens. Default 16 MiB. */
  maxCacheBytes?: number;
  /** Milliseconds a departed client has to reconnect before its process-local channels are cleaned up. Default 5000. */
  localGrace?: number;
  /** Largest frame a client may send once it has said hello. Default maxMessageBytes + 64 KiB. */
  maxFrameBytes?: number;
  /** Where lifecycle events are reported (client connected, disconnected). Default: nowhere. */
  log?: (line: string) => void;
  /**
   * The clock message expiry, group expiry, history and rate limits are read on: milliseconds from a
   * fixed origin, or an object with `now()` (tests pass a `TestClock`). Default `performance.now`.
   * Timers of the connection (heartbeats, hello, grace) keep real time.
   */
  clock?: ClockOption;
}

/** The part of `details` a client without admin rights may see (Broker.statsAnswer). */
function visibleTo({ instance, grant }: Viewer, details: BrokerDetails): BrokerDetails {
  const mine = (name: string): boolean => (isProcessLocal(name) ? ownsChannel(name, instance) : grant.receive(name));
  return {
    channelTop: details.channelTop.filter((c) => mine(c.name)),
    groupTop: details.groupTop.filter((g) => grant.group(g.name)),
    clientList: details.clientList.filter((c) => c.instance === instance),
  };
}

/** A client layer instance (by instanceId) and the process-local channels named after it. */
interface Instance {
  sessions: number;
  readonly channels: Set<string>;
  grace: NodeJS.Timeout | undefined;
}

const INSTANCE_ID = /^[A-Za-z0-9]{1,64}$/;

/**
 * A dropped body as its dead letter carries it: the message, or its bytes as
 * they came when they are not msgpack (the broker never checks a body, so a
 * client may send any bytes; they must not throw in the sweeper's timer).
 */
function droppedMessage(body: Buffer): MessageValue {
  try {
    return decodeMessage(body);
  } catch {
    return body;
  }
}

/**
 * What a stored message costs beyond its body, as counted toward
 * maxStoredBytes: the Buffer object and its backing store's header, its queue
 * slot, deadline and priority, and the heap's slack around them. Measured on
 * Node 22 with 500k stored messages: 113 to 125 bytes of heap beyond the body,
 * 175 to 190 of resident memory; counted at 192, stored bytes bound RSS within
 * 0.9 to 1.1× (docs/security.md). It was 64: RSS then ran to 2.8× the bound.
 */
const MESSAGE_BOOKKEEPING = 192;

/** A quarter of the heap limit: stored messages may not crowd out everything else the process needs. */
function defaultStoredBytes(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / 4);
}

/** The stats op's top lists are reused for at least this long (milliseconds), however often they are asked for. */
const LISTS_MAX_AGE = 1000;

/** What a census of the broker found: the stats op's figures and its top lists (MAX_STATS_TOP long), and answers made of them. */
interface Counts {
  stats: BrokerStats;
  details: BrokerDetails;
  /** Answers to the stats op for a given `top`, made once per census (an admin's: the whole client list). */
  answers: Map<number, StatsAnswer>;
}

/** The first `n` of each list. */
function firstOf(details: BrokerDetails, n: number): BrokerDetails {
  if (n >= MAX_STATS_TOP) return details;
  return { channelTop: details.channelTop.slice(0, n), groupTop: details.groupTop.slice(0, n), clientList: details.clientList.slice(0, n) };
}

/** Connections refused at the limit that are held open until hello to be told why; past this they are closed at once. */
const MAX_REFUSED = 64;

export class Broker implements SessionHost {
  readonly config: ResolvedOptions;
  readonly engine: Engine<Buffer, Waiter<Buffer>, Buffer>;
  /** Who holds what ahead, and the sends waiting for them to settle it. */
  readonly settling: Settling;
  readonly maxConnections: number;
  readonly maxPendingReceives: number;
  readonly helloTimeout: number;
  readonly maxStoredBytes: number;
  /** Replies cached by `request(…, { cacheFor })`, shared by every client (docs/request.md); hits and misses counted. */
  readonly replies: ReplyShares;
  replyHits = 0;
  replyMisses = 0;
  readonly log: (line: string) => void;
  /** Told to clients in hello: a new value means a new broker, which holds none of their state. */
  readonly epoch: string = randomBytes(9).toString("base64url");
  private readonly sessions = new Set<Session>();
  /** Sessions refused at accept (over the limit), held until they hear why at hello or time out. */
  private refused = 0;
  /**
   * A number that grows by one each turn of the event loop in which any
   * session was served: a session's share of work is counted per turn.
   */
  turn = 0;
  private turnQueued = false;
  private driveQueued: NodeJS.Immediate | undefined;
  private readonly instances = new Map<string, Instance>();
  private readonly sweeper: Sweeper;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly access: Access;
  private readonly localGrace: number;
  private nextSessionId = 1;
  /** The stats op's figures, walked a slice at a time. */
  private readonly census = new Census<Counts>(() => this.count());
  closed = false;
  /** Largest frame the transport accepts from a client once it said hello (told to clients in hello). */
  readonly maxFrameBytes: number;
  /** Connections accepted since the broker started. */
  connectionsOpened = 0;
  /**
   * Set by metrics to time requests: called with the op and the seconds the
   * broker spent handling it. Unset, requests are not timed at all.
   */
  onRequest: ((op: number, seconds: number) => void) | undefined;

  constructor(options: BrokerOptions = {}) {
    this.maxConnections = positiveOption(options.maxConnections, "maxConnections", 10_000, true);
    this.maxPendingReceives = positiveOption(options.maxPendingReceives, "maxPendingReceives", 10_000, true);
    this.helloTimeout = delayOption(options.helloTimeout, "helloTimeout (ms)", HELLO_TIMEOUT_MS);
    this.localGrace = delayOption(options.localGrace, "localGrace (ms)", 5000);
    const heartbeatInterval = delayOption(options.heartbeatInterval, "heartbeatInterval (ms)", 5000);
    if (options.token !== undefined && (typeof options.token !== "string" || options.token === "")) {
      throw new TypeError("token must be a non-empty string");
    }
    if (options.token !== undefined && options.tokens !== undefined) throw new TypeError("give token or tokens, not both");
    if (options.tokens !== undefined && (!Array.isArray(options.tokens) || options.tokens.length === 0)) {
      throw new TypeError("tokens must be a non-empty array of { token, send?, receive?, group?, admin? }");
    }
    this.access = new Access(options.token !== undefined ? [{ token: options.token }] : options.tokens);
    this.config = resolveOptions(options);
    this.maxStoredBytes = positiveOption(options.maxStoredBytes, "maxStoredBytes", defaultStoredBytes(), true);
    this.maxFrameBytes = positiveOption(options.maxFrameBytes, "maxFrameBytes", frameBytesFor(this.config.maxMessageBytes), true);
    this.replies = new ReplyShares(positiveOption(options.maxCacheBytes, "maxCacheBytes", DEFAULT_CACHE_BYTES, true), this.access.writers);
    const announces = presenceRules(options);
    this.engine = new Engine<Buffer, Waiter<Buffer>, Buffer>({
      ...this.config,
      size: (body) => body.length + MESSAGE_BOOKKEEPING,
      maxStoredBytes: this.maxStoredBytes,
      clock: engineClock(options.clock, () => performance.now()),
      holdAhead: true,
      // Only dropped messages are decoded: wrapped for the dead-letter channel, then encoded again.
      deadLetter: (body, reason, channel, group) => encodeMessage(deadLetterMessage(droppedMessage(body), reason, channel, group)),
      // History is kept in this process only: a restarted broker starts every group's history in a new epoch.
      history: { rules: this.config.groupHistory, stamp: stampEncoded },
      presenceEvents: announces.size === 0 ? undefined : { on: (group) => announces.match(group) === true, body: presenceEventBody },
      presenceSize: (info) => info.length + MESSAGE_BOOKKEEPING,
      // Announcements to big groups are sliced as clients' group sends are, and moved on by drive() a turn's share at a time.
      fanoutSlice: FANOUT_STEP,
      onBacklog: () => this.queueDrive(),
    });
    this.settling = new Settling(this.engine);
    this.sweeper = new Sweeper(this.engine);
    this.log = options.log ?? (() => {});
    this.heartbeat = setInterval(() => this.beat(), heartbeatInterval);
    this.heartbeat.unref();
  }

  /** Whether a new client would be served: not shutting down, below maxConnections (the broker's /readyz). */
  get accepting(): boolean {
    return !this.closed && this.sessions.size < this.maxConnections;
  }

  /** Serve a new connection. `peer` names it in log lines. */
  open(link: Link, peer: string): Session {
    this.connectionsOpened++;
    let full = this.sessions.size - this.refused >= this.maxConnections;
    if (full) {
      // A connection that has not said hello yet gives way to a new one: silent sockets cannot hold the slots.
      for (const s of this.sessions) {
        if (!s.awaitingHello) continue;
        this.log(`client ${s.id} (${s.peer}) closed before hello: the broker is at its connection limit`);
        s.end();
        full = false;
        break;
      }
    }
    const session = new Session(this, link, this.nextSessionId++, peer, full);
    if (full && this.refused >= MAX_REFUSED) {
      session.end(); // told nothing: a flood of refused connections is not held open to be told
      return session;
    }
    if (full) this.refused++;
    this.sessions.add(session);
    return session;
  }

  /** Count a served request in this turn of the event loop (see `turn`). */
  nextTurn(): void {
    if (this.turnQueued) return;
    this.turnQueued = true;
    setImmediate(() => {
      this.turnQueued = false;
      this.turn++;
    });
  }

  /** What `token` grants, or undefined when it is not one of the broker's (constant-time). */
  grantFor(token: unknown): Grant | undefined {
    return this.access.grant(token);
  }

  /** Whether the broker asks clients for a token. */
  get requiresToken(): boolean {
    return !this.access.open;
  }

  validInstanceId(id: unknown): id is string {
    return typeof id === "string" && INSTANCE_ID.test(id);
  }

  /**
   * A session says hello as layer instance `id`, presenting `secret`. The id
   * must be the one derived from the secret (identity.ts), whether the broker
   * knows the instance or not: nobody else can claim it, not after its grace
   * nor after a restart. Returns whether the broker still held the instance's
   * state, or undefined when the hello must be refused.
   */
  attach(id: string, secret: unknown): { resumed: boolean } | undefined {
    if (!secretProves(id, secret)) return undefined;
    let inst = this.instances.get(id);
    const resumed = inst !== undefined;
    if (inst === undefined) {
      inst = { sessions: 0, channels: new Set(), grace: undefined };
      this.instances.set(id, inst);
    }
    inst.sessions++;
    clearTimeout(inst.grace);
    inst.grace = undefined;
    return { resumed };
  }

  /** Remember a process-local channel of a known instance, to clean it up when the instance goes. */
  track(channel: string): void {
    const owner = ownerOf(channel);
    if (owner !== undefined) this.instances.get(owner)?.channels.add(channel);
  }

  /** A session ended (close, drop or missed heartbeats). */
  detach(session: Session): void {
    if (this.sessions.delete(session) && session.refused) this.refused--;
    if (session.instanceId === undefined) return;
    const inst = this.instances.get(session.instanceId);
    if (inst === undefined || --inst.sessions > 0) return;
    const id = session.instanceId;
    inst.grace = setTimeout(() => this.forget(id), this.localGrace);
    inst.grace.unref();
  }

  /**
   * The process behind instance `id` is known to be dead (IPC: the child
   * exited): end its sessions and remove its process-local channels and
   * memberships now, with no reconnect grace. Unknown ids are ignored.
   */
  departed(id: string): void {
    for (const session of [...this.sessions]) if (session.instanceId === id) session.end();
    const inst = this.instances.get(id);
    if (inst === undefined) return;
    clearTimeout(inst.grace);
    inst.sessions = 0;
    this.forget(id);
  }

  /** The instance did not come back: its process-local channels and memberships go. */
  private forget(id: string): void {
    const inst = this.instances.get(id);
    if (inst === undefined || inst.sessions > 0) return;
    this.instances.delete(id);
    // Its presence entries end with it, each leave announced (docs/presence.md "When a process dies").
    this.engine.departOwner(id);
    for (const channel of inst.channels) {
      for (const group of this.engine.groupsOf(channel)) this.engine.groupDiscard(group, channel);
      this.engine.discard(channel);
    }
  }

  private beat(): void {
    for (const session of this.sessions) session.beat();
    // Channels the engine already reclaimed (expired, received) need no cleanup later.
    for (const inst of this.instances.values()) {
      if (inst.channels.size < 64) continue;
      for (const channel of inst.channels) if (!this.engine.hasChannel(channel)) inst.channels.delete(channel);
    }
  }

  stats(): BrokerStats {
    return this.statsOf(this.engine.stats(), this.engine.heldAhead());
  }

  private statsOf({ channels, messages, waitingReceivers, groups, members, counters }: EngineStats, heldAhead: number): BrokerStats {
    const replyCache = { ...this.replies.stats(), hits: this.replyHits, misses: this.replyMisses };
    return { channels, messages, waitingReceivers, groups, members, clients: this.sessions.size, heldAhead, counters, replyCache };
  }

  /**
   * The answer to a stats op, given to `then` at once or, when a new census
   * must be walked first, once it is. With `top` (1 to MAX_STATS_TOP) the top
   * lists come too; they may be up to a second old. With `only` (a client
   * without admin rights), the lists hold only that instance's connections,
   * the channels its token may receive from (never another instance's `!`
   * channels: a reply channel's name is what lets a sender forge its reply)
   * and the groups it may use; the counts stay whole. The same answer is
   * given while its census is reused, so a client asking a thousand times
   * costs a thousand small writes.
   */
  statsAnswer(top: number | undefined, only: Viewer | undefined, then: (answer: StatsAnswer) => void): void {
    this.census.get(top === undefined ? 0 : LISTS_MAX_AGE, ({ value: counts }) => {
      if (top === undefined) return then({ value: counts.stats, bytes: wireEstimate(counts.stats) });
      let answer = only === undefined ? counts.answers.get(top) : undefined;
      if (answer === undefined) {
        const details = firstOf(counts.details, top);
        const value = { ...counts.stats, ...(only === undefined ? details : visibleTo(only, details)) };
        answer = { value, bytes: wireEstimate(value) };
        if (only === undefined) counts.answers.set(top, answer);
      }
      then(answer);
    });
  }

  /**
   * The stats op's figures with the `n` (at most MAX_STATS_TOP) busiest
   * channels, largest groups and clients with the most waiting receives,
   * for the HTTP side (docs/observability.md): from a census begun less than
   * `maxAge` ms ago (or 50 times its walk's CPU time, if longer), walked a
   * slice at a time when a new one is needed, so that however large the
   * broker, no scrape or status page holds the clients up for longer than a slice.
   */
  figures(n: number, maxAge: number): Promise<BrokerStats & BrokerDetails> {
    return new Promise((resolve) => this.census.get(maxAge, ({ value }) => resolve({ ...value.stats, ...firstOf(value.details, n) })));
  }

  /**
   * The `n` (at most MAX_STATS_TOP) busiest channels, largest groups and
   * clients with the most waiting receives, for a local caller (tests, tools),
   * at most `maxAge` ms old (0: walked now). The walk is reused for at least
   * 50 times as long as it took, so that it takes at most 2% of the broker's time.
   */
  top(n: number, maxAge = LISTS_MAX_AGE): BrokerDetails {
    return firstOf(this.census.now(maxAge).details, n);
  }

  /** A census of the broker, pausing every WALK_STEP channels, groups or clients (see Census). */
  private *count(): Generator<void, Counts> {
    const found = yield* this.engine.walk(MAX_STATS_TOP);
    const clientList: ClientInfo[] = [];
    let floor = -Infinity;
    let i = 0;
    // Sessions come in the order they connected: among equals, the older stays first.
    for (const s of this.sessions) {
      if (s.pendingReceives > floor) {
        const info = { id: s.id, peer: s.peer, instance: s.instanceId ?? "", since: s.since, pendingReceives: s.pendingReceives };
        floor = keepTop(clientList, info, MAX_STATS_TOP, (c) => c.pendingReceives);
      }
      if (++i % WALK_STEP === 0) yield;
    }
    const stats = this.statsOf(found.stats, found.heldAhead);
    return { stats, details: { channelTop: found.channels, groupTop: found.groups, clientList }, answers: new Map() };
  }

  private queueDrive(): void {
    if (this.driveQueued || this.closed) return;
    this.driveQueued = setImmediate(this.drive);
  }

  /** A turn's share of the sliced sends in the broker's own hands (Engine.drive). */
  private readonly drive = (): void => {
    this.driveQueued = undefined;
    const until = performance.now() + FANOUT_TURN_MS;
    let more: boolean;
    let steps = 0;
    do more = this.engine.drive(FANOUT_STEP);
    while (more && ++steps < DELIVERIES_PER_TURN / FANOUT_STEP && performance.now() < until);
    this.nextTurn();
    if (more) this.queueDrive();
  };

  /** End every session (their waiting receives are dropped, their links ended) and free the timers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.driveQueued) clearImmediate(this.driveQueued);
    this.driveQueued = undefined;
    clearInterval(this.heartbeat);
    this.sweeper.close();
    this.census.close();
    for (const session of [...this.sessions]) session.end();
    for (const inst of this.instances.values()) clearTimeout(inst.grace);
    this.instances.clear();
    this.engine.close();
  }
}


