/**
 * What `layer.stats()` answers (docs/observability.md). Every backend reports the same
 * shape; `scope` says what the figures cover, because backends know
 * different things:
 *
 * - memory ("layer"): everything, exactly; the layer is the engine.
 * - broker and IPC ("broker"): the broker's whole engine, shared by every
 *   connected client, plus the client count and this layer's own link.
 * - redis ("process"): only what this process buffers and did; channels and
 *   groups live in Redis, shared with other processes (Python included), and
 *   counting them would mean scanning keys. Counts it cannot see are absent.
 */
import type { EngineCounters } from "./engine/state.js";

/** Counters since the layer (or broker) started; see EngineCounters for each one's meaning. */
export type LayerCounters = EngineCounters;

export interface LayerStats {
  /** Which backend answered: "memory", "broker", "ipc", "redis". */
  backend: string;
  /** What the figures cover: this layer alone, a broker shared by its clients, or this process's share of a shared store. */
  scope: "layer" | "broker" | "process";
  /** Channels holding messages, waiting receivers or memberships. */
  channels: number;
  /** Messages queued, not yet received. */
  messages: number;
  /** Receives waiting for a message. */
  waitingReceivers: number;
  /** Groups with at least one member; absent where the backend cannot know. */
  groups?: number;
  /** Group memberships; absent where the backend cannot know. */
  members?: number;
  /** Connected clients (scope "broker"). */
  clients?: number;
  /** The counters the backend keeps; those it cannot observe are absent. */
  counters: Partial<LayerCounters>;
  /** What this layer's `request()` did, and its reply cache where that lives in this process (docs/request.md). */
  requests?: RequestStats;
}

/** An engine backend's stats: every figure is known. */
export interface EngineLayerStats extends LayerStats {
  scope: "layer" | "broker";
  groups: number;
  members: number;
  counters: LayerCounters;
}

/** What a client layer knows of its own link to the broker. */
export interface ClientLinkStats {
  /** Whether the link is up and past hello. */
  connected: boolean;
  /** Links opened after the first (reconnects). */
  reconnects: number;
  /** Requests sent and not yet answered, receives included. */
  pendingRequests: number;
}

/** A broker client's stats: the broker's figures and this layer's own link. */
export interface BrokerLayerStats extends EngineLayerStats {
  scope: "broker";
  clients: number;
  client: ClientLinkStats;
}

/** A reply cache kept in this process (docs/request.md). */
export interface ReplyCacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  evictions: number;
}

/** What `request()` counted since the layer was made. */
export interface RequestCounters {
  /** Requests sent to a worker channel. */
  sent: number;
  /** Replies handed to a caller (error replies included). */
  replied: number;
  /** Error replies (`type: "error"`). */
  failed: number;
  /** Requests that ran out of time. */
  timedOut: number;
  /** Replies that came after their caller had given up: taken out of the reply channel and dropped. */
  late: number;
  /** Requests answered from the cache, without a worker. */
  cacheHits: number;
  /** Cacheable requests the cache could not answer. */
  cacheMisses: number;
  /** Requests that joined an equal request already under way instead of calling a worker. */
  coalesced: number;
}

/** What `stats().requests` reports: the counters, and the reply cache where it lives in this process. */
export interface RequestStats extends RequestCounters {
  cache?: ReplyCacheStats;
}
