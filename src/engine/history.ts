/**
 * Group history in the engine (docs/recovery.md): a bounded ring per group
 * whose name a `groupHistory` pattern matches, trimmed by `size` on every
 * record and by `ttl` on the engine's clock (lazily on use, and by `sweep`
 * in bounded slices), its bytes counted with the engine's stored messages.
 * Bodies are opaque, as in the engine: `stamp` puts the position into one.
 */
import { randomBytes } from "node:crypto";
import type { HistoryPosition } from "../layer.js";
import { noHistory, type HistoryRule, type HistoryRules } from "../options/history.js";
import { DeadlineHeap, type HeapItem } from "./heap.js";

export interface EngineHistoryOptions<T> {
  rules: HistoryRules;
  /** The body every member gets and the ring keeps: `body` carrying `position`. */
  stamp: (body: T, position: HistoryPosition) => T;
}

/** A history read, bodies as the engine keeps them. */
export interface HistoryRead<T> {
  messages: Array<{ position: HistoryPosition; message: T }>;
  position: HistoryPosition;
  recovered: boolean;
}

interface Ring<T> extends HeapItem {
  readonly name: string;
  readonly rule: HistoryRule;
  readonly epoch: string;
  /** The offset the next record gets; the kept ones are `next - count` to `next - 1`. */
  next: number;
  bodies: T[];
  deadlines: number[];
  /** The channels each kept send left out (its `except`), undefined for most: a read for one of them skips it. */
  excepts: Array<ReadonlySet<string> | undefined>;
  /** Index of the oldest kept in the arrays (used as a circle once they reach `rule.size`). */
  head: number;
  count: number;
  /** Total size of the kept bodies. */
  bytes: number;
  /** When a ring that keeps nothing is dropped, its epoch with it. */
  reclaimAt: number;
}

function newEpoch(): string {
  return randomBytes(8).toString("hex");
}

export class EngineHistory<T> {
  private readonly rings = new Map<string, Ring<T>>();
  /** Rings by the deadline of their oldest message, or when they are reclaimed if they keep none. */
  private readonly deadlines = new DeadlineHeap<Ring<T>>();
  /** Total size of every kept body. */
  bytes = 0;

  constructor(
    private readonly options: EngineHistoryOptions<T>,
    private readonly sizeOf: ((body: T) => number) | undefined,
  ) {}

  /**
   * Record a group send to `group`: the body to deliver (stamped with its
   * position), or undefined when the group keeps no history. `room` is how
   * many bytes all history may hold after this record: past it this group's
   * oldest make room, and if that is not enough this message is delivered
   * but not kept (a reader from before it is told `recovered: false`).
   * `except`: the channels the send left out, whose reads will skip it too.
   */
  record(group: string, body: T, now: number, room: number, except?: ReadonlySet<string>): T | undefined {
    let ring = this.rings.get(group);
    if (ring === undefined) {
      const rule = this.options.rules.ruleOf(group);
      if (rule === undefined) return undefined;
      ring = this.open(group, rule, now);
    } else this.trim(ring, now);
    const size = this.entrySize(body, except);
    while (ring.count > 0 && (ring.count >= ring.rule.size || this.bytes + size > room)) this.dropOldest(ring);
    const stamped = this.options.stamp(body, { epoch: ring.epoch, offset: ring.next++ });
    if (this.bytes + size > room) {
      ring.reclaimAt = now + 2 * ring.rule.ttlMs;
      this.deadlines.set(ring, ring.reclaimAt);
      return stamped;
    }
    const deadline = now + ring.rule.ttlMs;
    this.push(ring, stamped, deadline, except);
    ring.bytes += size;
    this.bytes += size;
    // Kept for another ttl once it is empty: a reader away for less than ttl resumes with nothing missed.
    ring.reclaimAt = deadline + ring.rule.ttlMs;
    if (ring.count === 1) this.deadlines.set(ring, deadline);
    return stamped;
  }

  /**
   * What is kept of `group` after `since` (docs/recovery.md, "Reading history"):
   * at most `limit` messages of at most `maxBytes` in all (by `size`), else
   * none. Throws when the group keeps no history. `reader`: a channel whose
   * reads leave out what was sent with it in `except`, as its live delivery did
   * (the bounds count every message after `since` all the same).
   */
  read(group: string, since: HistoryPosition | undefined, limit: number, now: number, maxBytes = Infinity, reader?: string): HistoryRead<T> {
    let ring = this.rings.get(group);
    if (ring === undefined) {
      const rule = this.options.rules.ruleOf(group);
      if (rule === undefined) throw noHistory(group);
      ring = this.open(group, rule, now);
    } else this.trim(ring, now);
    ring.reclaimAt = Math.max(ring.reclaimAt, now + ring.rule.ttlMs);
    if (ring.count === 0) this.deadlines.set(ring, ring.reclaimAt);
    const latest = ring.next - 1;
    const position = { epoch: ring.epoch, offset: latest };
    let from: number;
    if (since === undefined) from = latest - Math.min(ring.count, limit) + 1;
    else {
      from = since.offset + 1;
      const whole = since.epoch === ring.epoch && since.offset <= latest && from >= ring.next - ring.count;
      if (!whole || latest - since.offset > limit) return { messages: [], position, recovered: false };
    }
    const first = ring.next - ring.count;
    const cap = ring.bodies.length;
    if (this.sizeOf && maxBytes !== Infinity) {
      // Newest first, so that a tail read keeps the newest that fit.
      let bytes = 0;
      for (let offset = latest; offset >= from; offset--) {
        bytes += this.sizeOf(ring.bodies[(ring.head + offset - first) % cap]!);
        if (bytes <= maxBytes) continue;
        if (since !== undefined) return { messages: [], position, recovered: false };
        from = offset + 1;
        break;
      }
    }
    const messages: HistoryRead<T>["messages"] = [];
    for (let offset = from; offset <= latest; offset++) {
      const i = (ring.head + offset - first) % cap;
      if (reader !== undefined && ring.excepts[i]?.has(reader)) continue;
      messages.push({ position: { epoch: ring.epoch, offset }, message: ring.bodies[i]! });
    }
    return { messages, position, recovered: since !== undefined };
  }

  /** Drop expired messages and rings kept empty long enough, about `budget` units of work at most. */
  sweep(now: number, budget: number): { work: number; more: boolean } {
    let work = 0;
    for (let ring = this.deadlines.peek(); ring && ring.key <= now && work < budget; ring = this.deadlines.peek()) {
      work += 1 + this.trim(ring, now, budget - work);
      if (ring.count > 0) this.deadlines.set(ring, ring.deadlines[ring.head]!);
      else if (ring.reclaimAt > now) this.deadlines.set(ring, ring.reclaimAt);
      else this.drop(ring);
    }
    const next = this.deadlines.peek();
    return { work, more: next !== undefined && next.key <= now };
  }

  /** Forget every group's history: the next record or read of a group starts a new epoch. */
  clear(): void {
    this.rings.clear();
    this.deadlines.clear();
    this.bytes = 0;
  }

  /** Groups with history state, and messages kept. */
  stats(): { groups: number; messages: number } {
    let messages = 0;
    for (const ring of this.rings.values()) messages += ring.count;
    return { groups: this.rings.size, messages };
  }

  private open(name: string, rule: HistoryRule, now: number): Ring<T> {
    const ring: Ring<T> = { name, rule, epoch: newEpoch(), next: 1, bodies: [], deadlines: [], excepts: [], head: 0, count: 0, bytes: 0, reclaimAt: now + rule.ttlMs, key: 0, heapIndex: -1 };
    this.rings.set(name, ring);
    this.deadlines.set(ring, ring.reclaimAt);
    return ring;
  }

  private drop(ring: Ring<T>): void {
    this.deadlines.remove(ring);
    this.bytes -= ring.bytes;
    if (this.rings.get(ring.name) === ring) this.rings.delete(ring.name);
  }

  private push(ring: Ring<T>, body: T, deadline: number, except: ReadonlySet<string> | undefined): void {
    let cap = ring.bodies.length;
    if (ring.count === cap) {
      // Grow by doubling, up to rule.size (record trims to below it first), unrolling the circle.
      const grown = Math.min(ring.rule.size, Math.max(8, cap * 2));
      const bodies = new Array<T>(grown);
      const deadlines = new Array<number>(grown);
      const excepts = new Array<ReadonlySet<string> | undefined>(grown);
      for (let k = 0; k < ring.count; k++) {
        bodies[k] = ring.bodies[(ring.head + k) % cap]!;
        deadlines[k] = ring.deadlines[(ring.head + k) % cap]!;
        excepts[k] = ring.excepts[(ring.head + k) % cap];
      }
      ring.bodies = bodies;
      ring.deadlines = deadlines;
      ring.excepts = excepts;
      ring.head = 0;
      cap = grown;
    }
    const i = (ring.head + ring.count) % cap;
    ring.bodies[i] = body;
    ring.deadlines[i] = deadline;
    ring.excepts[i] = except;
    ring.count++;
  }

  private dropOldest(ring: Ring<T>): void {
    const i = ring.head;
    const size = this.entrySize(ring.bodies[i]!, ring.excepts[i]);
    ring.bytes -= size;
    this.bytes -= size;
    ring.bodies[i] = undefined as T; // let it be collected
    ring.excepts[i] = undefined;
    ring.head = (i + 1) % ring.bodies.length;
    ring.count--;
  }

  /** What a kept send counts toward the stored bytes: its body, and the names it left out (a sender chooses how many). */
  private entrySize(body: T, except: ReadonlySet<string> | undefined): number {
    if (!this.sizeOf) return 0;
    let size = this.sizeOf(body);
    if (except !== undefined) for (const name of except) size += name.length;
    return size;
  }

  /** Drop `ring`'s expired messages, at most `limit`; returns how many. */
  private trim(ring: Ring<T>, now: number, limit = Infinity): number {
    let n = 0;
    while (ring.count > 0 && ring.deadlines[ring.head]! <= now && n < limit) {
      this.dropOldest(ring);
      n++;
    }
    return n;
  }
}
