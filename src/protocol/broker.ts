/**
 * The broker, transport-agnostic: one engine holding opaque message bodies,
 * the sessions of connected clients, token checks, heartbeats and the
 * cleanup of departed clients' process-local channels. BrokerServer (sockets)
 * and the IPC server feed it links; nothing here knows how bytes travel.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Engine } from "../engine/engine.js";
import { Sweeper } from "../engine/sweeper.js";
import type { LayerOptions } from "../layer.js";
import { deadLetterMessage } from "../message.js";
import { decodeMessage, encodeMessage } from "../msgpack.js";
import { nonLocalName } from "../names.js";
import { resolveOptions, type ResolvedOptions } from "../options.js";
import { FRAME_OVERHEAD } from "./frames.js";
import type { Link } from "./link.js";
import type { BrokerDetails, BrokerStats, ClientInfo } from "./ops.js";
import { Session, type ReceiveWaiter } from "./session.js";
import { positiveOption } from "./settings.js";

export interface BrokerOptions extends LayerOptions {
  /** Shared secret clients must present in hello; none when undefined. */
  token?: string;
  /** Connections served at once; more are refused. Default 10,000. */
  maxConnections?: number;
  /** Receives one connection may have waiting at once. Default 10,000. */
  maxPendingReceives?: number;
  /** Milliseconds between heartbeat checks; a client silent for 3 of them is dropped. Default 5000. */
  heartbeatInterval?: number;
  /** Milliseconds a departed client has to reconnect before its process-local channels are cleaned up. Default 5000. */
  localGrace?: number;
  /** Where lifecycle events are reported (client connected, disconnected). Default: nowhere. */
  log?: (line: string) => void;
}

/** A client layer instance (by instanceId) and the process-local channels named after it. */
interface Instance {
  sessions: number;
  readonly channels: Set<string>;
  grace: NodeJS.Timeout | undefined;
}

const INSTANCE_ID = /^[A-Za-z0-9]{1,64}$/;

export class Broker {
  readonly config: ResolvedOptions;
  readonly engine: Engine<Buffer, ReceiveWaiter>;
  readonly maxConnections: number;
  readonly maxPendingReceives: number;
  readonly log: (line: string) => void;
  /** Told to clients in hello: a new value means a new broker, which holds none of their state. */
  readonly epoch: string = randomBytes(9).toString("base64url");
  private readonly sessions = new Set<Session>();
  private readonly instances = new Map<string, Instance>();
  private readonly sweeper: Sweeper;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly tokenDigest: Buffer | undefined;
  private readonly localGrace: number;
  private nextSessionId = 1;
  private details: { at: number; n: number; value: BrokerDetails } | undefined;
  closed = false;
  /** Largest frame the transport accepts from a client (told to clients in hello); set by the server that feeds the links. */
  maxFrameBytes: number;
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
    this.localGrace = positiveOption(options.localGrace, "localGrace (ms)", 5000);
    const heartbeatInterval = positiveOption(options.heartbeatInterval, "heartbeatInterval (ms)", 5000);
    if (options.token !== undefined && (typeof options.token !== "string" || options.token === "")) {
      throw new TypeError("token must be a non-empty string");
    }
    this.config = resolveOptions(options);
    this.maxFrameBytes = this.config.maxMessageBytes + FRAME_OVERHEAD;
    this.engine = new Engine<Buffer, ReceiveWaiter>({
      ...this.config,
      clock: () => performance.now(),
      holdAhead: true,
      // Only dropped messages are decoded: wrapped for the dead-letter channel, then encoded again.
      deadLetter: (body, reason, channel, group) => encodeMessage(deadLetterMessage(decodeMessage(body), reason, channel, group)),
    });
    this.sweeper = new Sweeper(this.engine);
    this.log = options.log ?? (() => {});
    this.tokenDigest = options.token === undefined ? undefined : digest(options.token);
    this.heartbeat = setInterval(() => this.beat(), heartbeatInterval);
    this.heartbeat.unref();
  }

  /** Whether a new client would be served: not shutting down, below maxConnections (the broker's /readyz). */
  get accepting(): boolean {
    return !this.closed && this.sessions.size < this.maxConnections;
  }

  /** Serve a new connection. `peer` names it in log lines. */
  open(link: Link, peer: string): Session {
    const full = this.sessions.size >= this.maxConnections;
    const session = new Session(this, link, this.nextSessionId++, peer, full);
    this.sessions.add(session);
    this.connectionsOpened++;
    return session;
  }

  /** Constant-time token check; hashing first makes the lengths equal. */
  tokenAccepted(token: unknown): boolean {
    if (this.tokenDigest === undefined) return true;
    return typeof token === "string" && timingSafeEqual(digest(token), this.tokenDigest);
  }

  validInstanceId(id: unknown): id is string {
    return typeof id === "string" && INSTANCE_ID.test(id);
  }

  /** A session said hello as layer instance `id`; true when the broker still held its state. */
  attach(id: string): boolean {
    let inst = this.instances.get(id);
    const resumed = inst !== undefined;
    if (inst === undefined) {
      inst = { sessions: 0, channels: new Set(), grace: undefined };
      this.instances.set(id, inst);
    }
    inst.sessions++;
    clearTimeout(inst.grace);
    inst.grace = undefined;
    return resumed;
  }

  /** Remember a process-local channel of a known instance, to clean it up when the instance goes. */
  track(channel: string): void {
    const local = nonLocalName(channel);
    const owner = local.slice(local.lastIndexOf(".") + 1, -1);
    this.instances.get(owner)?.channels.add(channel);
  }

  /** A session ended (close, drop or missed heartbeats). */
  detach(session: Session): void {
    this.sessions.delete(session);
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
    const { channels, messages, waitingReceivers, groups, members, counters } = this.engine.stats();
    return { channels, messages, waitingReceivers, groups, members, clients: this.sessions.size, heldAhead: this.engine.heldAhead(), counters };
  }

  /**
   * The `n` busiest channels, largest groups and clients with the most
   * waiting receives. It walks everything, so an answer up to `maxAge`
   * milliseconds old is reused: however often clients ask with the stats op,
   * the broker walks at most once a second.
   */
  top(n: number, maxAge = 1000): BrokerDetails {
    const now = performance.now();
    if (this.details && this.details.n === n && now - this.details.at < maxAge) return this.details.value;
    const clientList: ClientInfo[] = [];
    for (const s of this.sessions) {
      clientList.push({ id: s.id, peer: s.peer, instance: s.instanceId ?? "", since: s.since, pendingReceives: s.pendingReceives });
    }
    clientList.sort((a, b) => b.pendingReceives - a.pendingReceives || a.id - b.id);
    clientList.length = Math.min(clientList.length, n);
    const { channels, groups } = this.engine.top(n);
    const value: BrokerDetails = { channelTop: channels, groupTop: groups, clientList };
    this.details = { at: now, n, value };
    return value;
  }

  /** End every session (their waiting receives are dropped, their links ended) and free the timers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.sweeper.close();
    for (const session of [...this.sessions]) session.end();
    for (const inst of this.instances.values()) clearTimeout(inst.grace);
    this.instances.clear();
    this.engine.close();
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
