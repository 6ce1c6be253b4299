/**
 * The public contract (docs/semantics.md §3): what every backend implements and what
 * users hold. This file reads like the spec on purpose.
 */

/** A value a message may carry (docs/semantics.md §2). */
export type MessageValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | MessageValue[]
  | { [key: string]: MessageValue };

/** A message: a plain object whose string `type` names its handler. */
export interface Message {
  type: string;
  [key: string]: MessageValue;
}

import type { EventEmitter } from "eventemitter3";
import type { LayerStats, RequestCounters } from "./stats.js";
import type { PatternMap } from "./options/patterns.js";
import type { TrafficOptions } from "./options/traffic.js";

export type Extension = "groups" | "flush" | "priority";

export interface SendOptions {
  /** 0–9, higher first, FIFO within a level (needs the "priority" extension). Default 0, or `channelPriority`. */
  priority?: number;
}

/** Options of `groupSend`. */
export interface GroupSendOptions extends SendOptions {
  /** Members that do not get this message: a channel name or several, such as the sender's own (docs/semantics.md §9). */
  except?: string | readonly string[];
}

/** Options of `request()` (docs/request.md). */
export interface RequestOptions extends SendOptions {
  /** Milliseconds to wait for the reply. Default 30,000; `Infinity` waits for as long as the layer is open. */
  timeout?: number;
  /** Aborting rejects with the signal's reason and cleans up the reply channel. */
  signal?: AbortSignal;
  /** Seconds an equal request may be answered from the cache (0 or absent: never cached). */
  cacheFor?: number;
}

export interface ReceiveOptions {
  /** Aborting ends the receive with the signal's reason and takes nothing from the channel. */
  signal?: AbortSignal;
}

/** Where a layer stands with its backend (docs/semantics.md §5). In-memory layers are "ready" until "closed". */
export type LayerState = "connecting" | "ready" | "reconnecting" | "failed" | "closed";

/** Why a layer may have missed messages (docs/semantics.md §5). */
export type GapReason = "broker-restarted" | "redis-restarted" | "grace-expired";

/**
 * Messages may have been lost while the layer was away from its backend; by
 * the time this is emitted it has restored what it owns (its group
 * memberships, its `!` channels). The app should resync: reload history,
 * re-announce presence.
 */
export interface LayerGap {
  reason: GapReason;
  /** When the layer found out, in milliseconds since the epoch. */
  at: number;
}

/** The events of a layer's emitter (eventemitter3). */
export interface LayerEvents {
  /** Every change of `state`. */
  state: (state: LayerState, previous: LayerState) => void;
  gap: (gap: LayerGap) => void;
}

/* Presence (docs/presence.md). */

/** What a member says about itself: a plain object of message values, size-checked like a message. */
export type PresenceInfo = { [key: string]: MessageValue };

/** The third argument of `groupAdd`. */
export interface GroupAddOptions {
  /** Make this membership a presence entry carrying `info` (a renewal replaces the info and keeps `since`). */
  presence?: PresenceInfo;
}

/** One member who is here. */
export interface PresenceEntry {
  channel: string;
  info: PresenceInfo;
  /** When the entry began, in milliseconds since the epoch. */
  since: number;
}

export interface PresenceQuery {
  /** Most entries in the page: 1 to PRESENCE_PAGE_MAX. Default PRESENCE_PAGE. */
  limit?: number;
  /** The `next` of the previous page. */
  after?: string;
}

/** A page of a group's presence, oldest entry first; `next` is absent on the last page. */
export interface PresencePage {
  entries: PresenceEntry[];
  next?: string;
}

/** The event a presence group's members receive when an entry begins or ends. */
export interface PresenceEvent extends Message {
  type: "presence.join" | "presence.leave";
  group: string;
  channel: string;
  info: PresenceInfo;
}

/** What `groupPresence` says of a group. */
export interface GroupPresenceRule {
  /** Members receive presence.join and presence.leave. */
  events: boolean;
}

export interface PresenceOptions {
  /** Per group pattern (as channelCapacity): `{ events: true }` makes members receive presence.join / presence.leave. */
  groupPresence?: PatternMap<GroupPresenceRule>;
}

export interface ChannelLayer {
  readonly extensions: readonly Extension[];
  /**
   * Connection state (docs/semantics.md §5). Every bundled backend has it and the
   * `on`/`off` of its emitter; optional so that layers written elsewhere
   * still satisfy the interface.
   */
  readonly state?: LayerState;
  on?<E extends keyof LayerEvents>(event: E, listener: EventEmitter.EventListener<LayerEvents, E>): unknown;
  off?<E extends keyof LayerEvents>(event: E, listener: EventEmitter.EventListener<LayerEvents, E>): unknown;
  /** Store `message` in `channel`; resolves once stored, never waits for a reader. */
  send(channel: string, message: Message, options?: SendOptions): Promise<void>;
  /** The next message of `channel`, waiting for one if it is empty. */
  receive(channel: string, options?: ReceiveOptions): Promise<Message>;
  /** `receive` in a loop; ends when the layer closes while it waits, throws when the signal aborts; started after close() it rejects with LayerClosedError. */
  messages(channel: string, options?: ReceiveOptions): AsyncIterableIterator<Message>;
  /** A new process-local channel name: `<prefix>.<instance id>!<unique id>`. */
  newChannel(prefix?: string): Promise<string>;
  /** With `{ presence: info }` the membership is also a presence entry (docs/presence.md); rejected by a backend without `presence`. */
  groupAdd(group: string, channel: string, options?: GroupAddOptions): Promise<void>;
  groupDiscard(group: string, channel: string): Promise<void>;
  /** Send to every member but those in `except`; members that are full are skipped, never raised. */
  groupSend(group: string, message: Message, options?: GroupSendOptions): Promise<void>;
  /** Empty every channel and group (waiting receives keep waiting). */
  flush(): Promise<void>;
  /** Release every connection, timer and listener; later calls reject with LayerClosedError. */
  close(): Promise<void>;
  /**
   * Channels, queued messages, groups, members and counters, as far as the
   * backend can know them (see LayerStats). Every bundled backend has it;
   * optional so that layers written elsewhere still satisfy the interface.
   */
  stats?(): Promise<LayerStats>;
  /**
   * Request/reply: send `message` with a fresh `reply_channel` to a worker
   * channel and resolve with the first reply (docs/request.md). Every bundled
   * backend has it; `request()` from the package serves any other layer.
   */
  request?(channel: string, message: Message, options?: RequestOptions): Promise<Message>;
  /**
   * What is kept of a group's history (docs/recovery.md): with `since`, every
   * message after it and `recovered: true`, or none and `recovered: false`;
   * never a partial replay. Every bundled backend has it; optional so that
   * layers written elsewhere still satisfy the interface.
   */
  groupHistory?(group: string, options?: GroupHistoryReadOptions): Promise<GroupHistory>;
  /** A page of `group`'s presence entries, oldest first (docs/presence.md); backends that keep presence have it. */
  presence?(group: string, query?: PresenceQuery): Promise<PresencePage>;
  /** How many presence entries `group` has, without listing them. */
  presenceCount?(group: string): Promise<number>;
}

/**
 * Every bundled backend, and what `createChannelLayer()` returns: the
 * interface with the members it leaves optional for layers written elsewhere
 * (state and its events, stats, request) present, and `whenReady()`.
 */
export interface BundledChannelLayer extends ChannelLayer {
  readonly state: LayerState;
  on<E extends keyof LayerEvents>(event: E, listener: EventEmitter.EventListener<LayerEvents, E>): unknown;
  off<E extends keyof LayerEvents>(event: E, listener: EventEmitter.EventListener<LayerEvents, E>): unknown;
  stats(): Promise<LayerStats>;
  request(channel: string, message: Message, options?: RequestOptions): Promise<Message>;
  /** What this layer's `request()` did (docs/request.md). */
  readonly requestCounters: Readonly<RequestCounters>;
  /** Resolves once `state` is "ready"; rejects with why when it goes "failed" or "closed". */
  whenReady(): Promise<void>;
}

/** `channelCapacity`: glob patterns (fnmatch, whole name) or regexes; first match wins. */
export type ChannelCapacity = Record<string, number> | Array<[string | RegExp, number]>;

/**
 * Where a message stands in its group's history (docs/recovery.md): `offset`
 * grows by one per message; `epoch` changes whenever the history was lost or
 * reset. A recorded message carries it under `__position__`.
 */
export interface HistoryPosition {
  epoch: string;
  offset: number;
}

/** How much of a group's history is kept: `size` messages, each for `ttl` seconds. */
export interface GroupHistoryRule {
  size: number;
  ttl: number;
}

/** `groupHistory`: group name patterns (as `channelCapacity`) to what is kept; first match wins. */
export type GroupHistoryOptions = Record<string, GroupHistoryRule> | Array<[string | RegExp, GroupHistoryRule]>;

export interface GroupHistoryReadOptions {
  /** The last position the reader has: resume after it. Without it, the latest `limit` messages kept. */
  since?: HistoryPosition;
  /** Most messages to return; with `since`, more than this after it is `recovered: false`. */
  limit?: number;
  /**
   * The reader's channel: messages sent with it in `except` are left out, as
   * they were of its live delivery (docs/recovery.md). `resumeGroup` passes it.
   */
  channel?: string;
}

/** What `groupHistory()` resolves to. */
export interface GroupHistory {
  /** Oldest first; each message carries its position under `__position__` too. */
  messages: Array<{ position: HistoryPosition; message: Message }>;
  /** The group's latest position (`offset` 0: nothing recorded in this epoch). */
  position: HistoryPosition;
  /** Every message after `since` is in `messages`. False: none is, and the app must resync. */
  recovered: boolean;
}

export interface LayerOptions extends TrafficOptions, PresenceOptions {
  /** Seconds a message may wait in a channel before it is gone. Default 60. */
  expiry?: number;
  /** Seconds a group membership lasts without a renewing `groupAdd`. Default 86400. */
  groupExpiry?: number;
  /** Messages a channel may hold; a positive integer or Infinity. Default 100. */
  capacity?: number;
  /** Per-channel capacities by pattern; first match wins, else `capacity`. */
  channelCapacity?: ChannelCapacity;
  /** Largest encoded message, in bytes. Default 1 MiB. */
  maxMessageBytes?: number;
  /** Groups whose messages are kept for recovery, by pattern (docs/recovery.md). Default none. */
  groupHistory?: GroupHistoryOptions;
}

export const DEFAULTS = {
  expiry: 60,
  groupExpiry: 86400,
  capacity: 100,
  maxMessageBytes: 1024 * 1024,
} as const;
