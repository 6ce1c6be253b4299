/** The engine's records: what it keeps per channel and per group, and what it counts. */
import type { OverflowPolicy } from "../options/traffic.js";
import type { HeapItem } from "./heap.js";
import type { MessageQueue } from "./queue.js";
import type { TokenBucket } from "./token-bucket.js";
import type { Waiter, WaiterList } from "./waiters.js";

export interface ChannelState<T, W extends Waiter<T>> extends HeapItem {
  readonly name: string;
  /** Replaced by a PriorityQueue the first time a message with a priority arrives. */
  queue: MessageQueue<T>;
  readonly waiters: WaiterList<T, W>;
  readonly capacity: number;
  /** Priority of a message sent without one (`channelPriority`). */
  readonly priority: number;
  readonly overflow: OverflowPolicy;
  /** Present when a `rateLimits` pattern matches the channel. */
  readonly bucket: TokenBucket | undefined;
  /** Reverse index: the groups this channel is in, for O(groups) leaving. */
  groups: Set<GroupState> | undefined;
  /**
   * Messages handed to receivers that hold them ahead (a broker's clients),
   * not yet taken by application code nor given back: they count against
   * the capacity (docs/semantics.md §4.10).
   */
  ahead: number;
  /**
   * Where each message stands in the channel's order, for putting given-back
   * messages back in it: the next number a message handed out for the first
   * time gets, and the numbers of the given-back messages at the head of the
   * queue (oldest first). Clients give back independently of each other, so
   * only these numbers keep the order (docs/semantics.md §4.1, §4.10).
   */
  handed: number;
  backSeqs: number[];
}

export interface GroupState extends HeapItem {
  readonly name: string;
  /** channel → membership deadline; re-adding moves a member to the end, so the oldest is first. */
  readonly members: Map<string, number>;
  /** Present when a `rateLimits` pattern matches the group. */
  readonly bucket: TokenBucket | undefined;
  /**
   * The members' names as a sliced send walks them, shared by every such send
   * until a member joins or leaves (200 sends to 50k members made 200 lists
   * of 50k names, each kept until its send was done).
   */
  names: readonly string[] | undefined;
  /** Sliced sends under way, oldest first (the engine's own records): later sends wait behind them. */
  fanouts: unknown[] | undefined;
}

export interface EngineCounters {
  /** Messages accepted by `send`. */
  sent: number;
  /** Messages handed to application code (with read-ahead: once the client says it took them). */
  received: number;
  /** Messages that expired unread. */
  expired: number;
  /** `groupSend` calls. */
  groupSends: number;
  /** Member deliveries made by `groupSend`. */
  groupDelivered: number;
  /** Members `groupSend` skipped because they were full. */
  groupSkippedFull: number;
  /** `send` calls refused because the channel was full. */
  rejectedFull: number;
  /** Messages a full channel dropped under a drop-oldest or drop-newest policy. */
  droppedOverflow: number;
  /** Sends refused, and group deliveries skipped, by a rate limit. */
  rateLimited: number;
  /** Dropped messages written to the dead-letter channel. */
  deadLettered: number;
  /** Memberships that expired without renewal. */
  membershipsExpired: number;
}

export interface EngineStats {
  channels: number;
  messages: number;
  waitingReceivers: number;
  groups: number;
  members: number;
  counters: EngineCounters;
}

export function newCounters(): EngineCounters {
  return {
    sent: 0,
    received: 0,
    expired: 0,
    groupSends: 0,
    groupDelivered: 0,
    groupSkippedFull: 0,
    rejectedFull: 0,
    droppedOverflow: 0,
    rateLimited: 0,
    deadLettered: 0,
    membershipsExpired: 0,
  };
}
