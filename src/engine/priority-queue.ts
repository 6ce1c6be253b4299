/**
 * A queue with ten priority levels (0–9, higher first, FIFO within a level):
 * one ring buffer per level, made when first used, and a bitmask of the
 * non-empty ones so the highest is found in O(1). The engine switches a
 * channel to it the first time a message with a priority arrives, adopting
 * the channel's plain queue as level 0, so code that never sets a priority
 * pays nothing for it.
 */
import { RingQueue, type MessageQueue } from "./queue.js";

export class PriorityQueue<T> implements MessageQueue<T> {
  private readonly levels: Array<RingQueue<T> | undefined> = new Array<RingQueue<T> | undefined>(10);
  /** Bit p set when level p holds messages. */
  private mask = 0;
  size = 0;

  constructor(base: RingQueue<T>) {
    this.levels[0] = base;
    this.size = base.size;
    if (base.size > 0) this.mask = 1;
  }

  private level(priority: number): RingQueue<T> {
    return (this.levels[priority] ??= new RingQueue<T>());
  }

  private top(): number {
    return 31 - Math.clz32(this.mask);
  }

  private bottom(): number {
    return 31 - Math.clz32(this.mask & -this.mask);
  }

  get headDeadline(): number {
    return this.mask === 0 ? Infinity : this.levels[this.top()]!.headDeadline;
  }

  get headPriority(): number {
    return this.mask === 0 ? 0 : this.top();
  }

  get nextDeadline(): number {
    let min = Infinity;
    for (let m = this.mask, p = 0; m !== 0; m >>>= 1, p++) {
      if (m & 1) min = Math.min(min, this.levels[p]!.headDeadline);
    }
    return min;
  }

  push(body: T, deadline: number, priority: number): void {
    this.level(priority).push(body, deadline, priority);
    this.mask |= 1 << priority;
    this.size++;
  }

  unshift(body: T, deadline: number, priority: number): void {
    this.level(priority).unshift(body, deadline, priority);
    this.mask |= 1 << priority;
    this.size++;
  }

  shift(): T | undefined {
    if (this.mask === 0) return undefined;
    return this.shiftLevel(this.top());
  }

  dropOldest(): T | undefined {
    // The least important message goes first: the oldest of the lowest level.
    if (this.mask === 0) return undefined;
    return this.shiftLevel(this.bottom());
  }

  dropExpired(now: number, limit = Infinity, onDrop?: (body: T) => void): number {
    let dropped = 0;
    for (let m = this.mask, p = 0; m !== 0 && dropped < limit; m >>>= 1, p++) {
      if (!(m & 1)) continue;
      const level = this.levels[p]!;
      dropped += level.dropExpired(now, limit - dropped, onDrop);
      if (level.size === 0) this.mask &= ~(1 << p);
    }
    this.size -= dropped;
    return dropped;
  }

  clear(): void {
    for (const level of this.levels) level?.clear();
    this.mask = 0;
    this.size = 0;
  }

  private shiftLevel(p: number): T | undefined {
    const level = this.levels[p]!;
    const body = level.shift();
    if (level.size === 0) this.mask &= ~(1 << p);
    this.size--;
    return body;
  }
}
