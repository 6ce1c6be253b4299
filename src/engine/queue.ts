/**
 * A channel's messages: a growable ring buffer (O(1) push, shift and unshift
 * whatever its length; `Array.prototype.shift` is O(n) on long arrays).
 * Bodies and deadlines sit in parallel arrays so a message costs no wrapper
 * object. One expiry for the whole layer means deadlines rise from head to
 * tail, so expired messages are always at the head.
 *
 * The engine only uses the `MessageQueue` interface, so a queue with other
 * ordering (priorities) can replace this one.
 */

export interface MessageQueue<T> {
  readonly size: number;
  /** Deadline (ms) of the message that expires first; Infinity when empty. */
  readonly nextDeadline: number;
  /** Deadline of the message `shift` would return next. */
  readonly headDeadline: number;
  /** Priority of the message `shift` would return next. */
  readonly headPriority: number;
  push(body: T, deadline: number, priority: number): void;
  /** Put a message back at the head of its level (a cancelled hand-over). */
  unshift(body: T, deadline: number, priority: number): void;
  /** Remove and return the next message to deliver (callers drop expired ones first). */
  shift(): T | undefined;
  /** Remove and return the message an overflow should sacrifice first. */
  dropOldest(): T | undefined;
  /** Drop messages whose deadline is at or before `now`, at most `limit`, each handed to `onDrop`; returns how many. */
  dropExpired(now: number, limit?: number, onDrop?: (body: T) => void): number;
  clear(): void;
}

const MIN_CAPACITY = 8;

export class RingQueue<T> implements MessageQueue<T> {
  private bodies: (T | undefined)[] = new Array<T | undefined>(MIN_CAPACITY);
  private deadlines = new Float64Array(MIN_CAPACITY);
  private head = 0;
  size = 0;

  get headDeadline(): number {
    return this.size === 0 ? Infinity : this.deadlines[this.head]!;
  }

  get nextDeadline(): number {
    return this.headDeadline;
  }

  /** A plain queue holds priority 0 only; the engine switches to a PriorityQueue for others. */
  get headPriority(): number {
    return 0;
  }

  push(body: T, deadline: number, _priority = 0): void {
    if (this.size === this.bodies.length) this.resize(this.bodies.length * 2);
    const i = (this.head + this.size) & (this.bodies.length - 1);
    this.bodies[i] = body;
    this.deadlines[i] = deadline;
    this.size++;
  }

  unshift(body: T, deadline: number, _priority = 0): void {
    if (this.size === this.bodies.length) this.resize(this.bodies.length * 2);
    this.head = (this.head - 1) & (this.bodies.length - 1);
    this.bodies[this.head] = body;
    this.deadlines[this.head] = deadline;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const body = this.bodies[this.head];
    this.bodies[this.head] = undefined; // let the body be collected
    this.head = (this.head + 1) & (this.bodies.length - 1);
    this.size--;
    // Give memory back after a burst, but not on every small dip.
    if (this.bodies.length > 1024 && this.size * 4 < this.bodies.length) this.resize(this.bodies.length / 2);
    return body;
  }

  dropOldest(): T | undefined {
    return this.shift();
  }

  dropExpired(now: number, limit = Infinity, onDrop?: (body: T) => void): number {
    let dropped = 0;
    while (this.size > 0 && dropped < limit && this.deadlines[this.head]! <= now) {
      const body = this.shift()!;
      onDrop?.(body);
      dropped++;
    }
    return dropped;
  }

  clear(): void {
    this.bodies = new Array<T | undefined>(MIN_CAPACITY);
    this.deadlines = new Float64Array(MIN_CAPACITY);
    this.head = 0;
    this.size = 0;
  }

  private resize(capacity: number): void {
    const bodies: (T | undefined)[] = new Array<T | undefined>(capacity);
    const deadlines = new Float64Array(capacity);
    const mask = this.bodies.length - 1;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & mask;
      bodies[k] = this.bodies[i];
      deadlines[k] = this.deadlines[i]!;
    }
    this.bodies = bodies;
    this.deadlines = deadlines;
    this.head = 0;
  }
}
