/**
 * The broker protocol's operations and the shape of every frame, shared by
 * the networked broker and IPC. A frame is a msgpack array:
 *
 *   request   [op, id, ...args]            id: a client-chosen uint32
 *   response  [id, Status.Ok, ...result]
 *             [id, Status.Partial, ...result]   more answers follow (a standing receive)
 *             [id, Status.Error, code, message, details?]
 *             [id, Status.Cancelled]       a receive ended by a cancel op
 *   bundle    [0, Status.Bundle, body, deadline, priority, id, status, id, status, …]
 *             one message answering several receives at once (see Status.Bundle)
 *
 * Message bodies travel as msgpack `bin`: encoded once by the sending client,
 * kept as opaque bytes by the broker, decoded by the receiving client.
 */
import type { EngineCounters, EngineTop } from "../engine/engine.js";
import type { ReplyCacheStats } from "../stats.js";

/** Bumped on any incompatible change; a client of another version is refused in hello. */
export const PROTOCOL_VERSION = 4;

export const Op = {
  /**
   * [Hello, id, version, instanceId, token | null, secret, features?] → [id, Ok, HelloInfo] (instanceId derives
   * from secret: identity.ts); `features`, a bit set of Feature, says which optional frames the client reads
   * (none when absent: an older client or the Python one is never sent a frame it does not know).
   */
  Hello: 0,
  /** [Send, id, channel, body, priority?] → [id, Ok] */
  Send: 1,
  /**
   * [Receive, id, channel, max?, standing?, callers?] → [id, Ok, body, deadline, priority, …]: up to `max`
   * (default 1) queued messages at once, or one when it arrives (a long poll).
   * A standing receive (`standing` = 1) stays in the broker until it has handed over `max`
   * messages: each answer but the last is [id, Partial, body, deadline, priority, …]. A client
   * receiving in a loop thus gets its next messages without asking for each one. A *watch*
   * (`standing` = 2, a receive nobody waits for yet) takes nothing queued: with messages queued it
   * is answered at once with Ok and none; otherwise it stands, for what arrives.
   * `callers` (default `max`; 0 for a watch) says how many of them receives wait for; the rest
   * are read-ahead, which the broker hands over only while no other client holds messages of the
   * channel ahead: one that does may give them back, and they are older (docs/semantics.md §4.1, §4.10). A
   * receive stopped for that is answered Ok with what it has (possibly none).
   */
  Receive: 2,
  /** [Cancel, receiveId]: no answer of its own; the receive is answered Cancelled unless already answered */
  Cancel: 3,
  /**
   * [Requeue, id, channel, took, rest, …] (one or more such triples): no answer. Everything the broker hands a client stays
   * counted against its channel's capacity until the client settles it (docs/semantics.md §4.10): the oldest
   * `took` it holds on `channel` reached application code; with `rest` = 1, all others it holds
   * there go back to the head, in their order, with their deadlines. Settling more than it holds
   * is a protocol error that ends the connection. A client that goes gives back all it held.
   */
  Requeue: 4,
  /**
   * [GroupAdd, id, group, channel, expiry?, presence?] → [id, Ok]; `expiry`, seconds the membership
   * lasts (at most the broker's groupExpiry), is sent by a client restoring its memberships;
   * `presence`, msgpack bin of a map, makes the membership a presence entry owned by this
   * client's instance (docs/presence.md).
   */
  GroupAdd: 5,
  /** [GroupDiscard, id, group, channel] → [id, Ok] */
  GroupDiscard: 6,
  /** [GroupSend, id, group, body, priority?, except?] → [id, Ok]; except: channel names left out (priority null when only except is given) */
  GroupSend: 7,
  /** [Flush, id] → [id, Ok] */
  Flush: 8,
  /** [Ping, id] → [id, Ok]: the heartbeat; any frame proves the peer alive */
  Ping: 9,
  /** [Stats, id, top?] → [id, Ok, BrokerStats]; with `top` (1–100), BrokerStats & BrokerDetails */
  Stats: 10,
  /**
   * [CacheGet, id, key] → [id, Ok, body | null, storedAt]: a reply cached by `request(…, { cacheFor })`
   * (docs/request.md), shared by every client; `key` is `<channel>:<digest>`, and asking needs the
   * right to send to that channel.
   */
  CacheGet: 11,
  /** [CacheSet, id, key, body, ttlMs] → [id, Ok]: cache a reply for ttlMs (at most a day); needs the right to receive from the key's channel */
  CacheSet: 12,
  /**
   * [GroupHistory, id, group, sinceEpoch | null, sinceOffset, limit, reader?] → [id, Ok, epoch, offset, recovered (0 or 1), first, body…]:
   * a group's history after a position (docs/recovery.md); `epoch`/`offset` are the group's latest
   * position, the bodies hold consecutive offsets from `first`, a null where a send left `reader` out
   * (its `except`). Needs the right to the group; at most
   * MAX_HISTORY_READ messages and historyReplyBytes() of bodies are returned.
   */
  GroupHistory: 13,
  /**
   * [Presence, id, group, limit, after?] → [id, Ok, [[channel, info, since], …], next | null]: a page of
   * the group's presence entries (limit 1–PRESENCE_PAGE_MAX), oldest first; needs the group right.
   */
  Presence: 14,
  /** [PresenceCount, id, group] → [id, Ok, count]; needs the group right */
  PresenceCount: 15,
  /** [Depart, id] → [id, Ok]: the instance is closing; its presence entries end now, not after its reconnect grace */
  Depart: 16,
} as const;

export const Status = {
  Ok: 0,
  Error: 1,
  Cancelled: 2,
  Partial: 3,
  /**
   * [0, Bundle, body, deadline, priority, id₁, status₁, id₂, status₂, …]: the answers
   * [idₙ, statusₙ, body, deadline, priority] of several receives (statusₙ Ok or Partial) that
   * hand over one message, body written once; each is read as if it came alone, in the order
   * listed, where the frame stands in the stream. The broker bundles answers only when they
   * would have been written one after another (a group send reaching several of one client's
   * channels), so no answer moves past another; only to a client whose hello offered
   * Feature.Bundles. Bounded by the deliveries of one turn (DELIVERIES_PER_TURN).
   */
  Bundle: 4,
} as const;

/** Optional frames a client reads, offered as a bit set in its hello. */
export const Feature = {
  /** Status.Bundle answers. */
  Bundles: 1,
} as const;

/** A receive's `standing` field: answered once, standing until it has handed over `max`, or a watch (see Op.Receive). */
export const ReceiveMode = { Once: 0, Standing: 1, Watch: 2 } as const;

/** Most messages one receive may ask for. */
export const MAX_RECEIVE_BATCH = 1024;

/** The id of frames about the connection rather than one request (a fatal protocol error). */
export const CONNECTION_ID = 0;

/** What hello answers with. */
export interface HelloInfo {
  version: number;
  /** The broker's settings, which apply to every client's channels. */
  maxMessageBytes: number;
  /** Largest stream frame (or message) the broker accepts from a client, in bytes. */
  maxFrameBytes: number;
  expiry: number;
  groupExpiry: number;
  capacity: number;
  /** This broker process's random id: a client that sees it change knows the broker restarted (docs/semantics.md §5). */
  epoch: string;
  /** Whether the broker still held this instance's state (its reconnect grace had not run out). */
  resumed: boolean;
}

/** What the stats op answers with. */
export interface BrokerStats {
  channels: number;
  messages: number;
  waitingReceivers: number;
  groups: number;
  members: number;
  clients: number;
  /** Messages handed to clients ahead of application code, still counted against their channels' capacity. */
  heldAhead: number;
  /** The engine's counters since the broker started. */
  counters: EngineCounters;
  /** The reply cache `request(…, { cacheFor })` shares through this broker (docs/request.md). */
  replyCache: ReplyCacheStats & { hits: number; misses: number };
}

/** Most entries a stats op may ask for in each top list. */
export const MAX_STATS_TOP = 100;

/** A connected client, as status pages show it. */
export interface ClientInfo {
  /** The broker's number for the connection (as in its log lines). */
  id: number;
  /** Where it connects from, e.g. "tcp 127.0.0.1:51234". */
  peer: string;
  /** The layer instance id it said hello with; "" before hello. */
  instance: string;
  /** When it connected, in milliseconds since the epoch. */
  since: number;
  /** Its receives waiting for a message. */
  pendingReceives: number;
}

/** What the stats op adds when asked for the top `n`: busiest channels, largest groups, clients with the most waiting receives. */
export interface BrokerDetails {
  channelTop: EngineTop["channels"];
  groupTop: EngineTop["groups"];
  clientList: ClientInfo[];
}
