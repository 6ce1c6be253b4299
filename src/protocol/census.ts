/**
 * Figures that only a walk over everything can give (the stats op's waiting
 * receives, messages held ahead and top lists), gathered a slice at a time
 * between other work. However large the broker and however often clients
 * ask, a stats request holds the other clients up for one slice at most
 * (docs/security.md, "Broker limits"); the asker waits for the walk instead.
 */

/** Longest a walk runs before other work goes on (the next slice runs in a later turn of the event loop). */
const SLICE_MS = 0.05;

/** A result is reused for at least this many times the CPU time its walk took: walks take at most 2% of the broker's time. */
const COST_SHARE = 50;

export interface Counted<V> {
  value: V;
  /** When its walk began (performance.now()). */
  at: number;
  /** Milliseconds of CPU time its walk took, all slices together. */
  cost: number;
}

export class Census<V> {
  private latest: Counted<V> | undefined;
  private walk: { steps: Generator<void, V>; at: number; cost: number } | undefined;
  private waiting: Array<(counted: Counted<V>) => void> = [];
  private next: NodeJS.Immediate | undefined;

  /** `begin` starts a walk: a generator that yields wherever it may pause and returns what it found. */
  constructor(private readonly begin: () => Generator<void, V>) {}

  /**
   * Calls `then` with a result whose walk began less than `maxAge` ms ago
   * (or COST_SHARE times its cost, if longer): at once when the latest one
   * is, otherwise when a walk ends. A new walk's first slice runs now, so on
   * a small broker `then` is still called at once.
   */
  get(maxAge: number, then: (counted: Counted<V>) => void): void {
    if (this.fresh(maxAge)) return then(this.latest!);
    this.waiting.push(then);
    if (this.walk !== undefined) return;
    this.walk = { steps: this.begin(), at: performance.now(), cost: 0 };
    this.slice();
  }

  /**
   * The same for a local caller (tests, tools), at once: a
   * walk still to make is made whole now. `maxAge` 0 asks for a new walk.
   */
  now(maxAge: number): V {
    if (maxAge > 0 && this.fresh(maxAge)) return this.latest!.value;
    this.walk = { steps: this.begin(), at: performance.now(), cost: 0 };
    for (;;) {
      const step = this.walk.steps.next();
      if (step.done) return this.done(step.value, performance.now() - this.walk.at).value;
    }
  }

  /** Stop walking; results asked for are not given. */
  close(): void {
    clearImmediate(this.next);
    this.walk = undefined;
    this.waiting = [];
  }

  private fresh(maxAge: number): boolean {
    const latest = this.latest;
    return latest !== undefined && performance.now() - latest.at < Math.max(maxAge, COST_SHARE * latest.cost);
  }

  private readonly slice = (): void => {
    this.next = undefined;
    const walk = this.walk;
    if (walk === undefined) return;
    const start = performance.now();
    for (;;) {
      const step = walk.steps.next();
      const now = performance.now();
      if (step.done) return void this.done(step.value, walk.cost + now - start);
      if (now - start >= SLICE_MS) break;
    }
    walk.cost += performance.now() - start;
    this.next = setImmediate(this.slice);
  };

  private done(value: V, cost: number): Counted<V> {
    clearImmediate(this.next);
    this.next = undefined;
    const latest = (this.latest = { value, at: this.walk!.at, cost });
    this.walk = undefined;
    const waiting = this.waiting;
    this.waiting = [];
    for (const then of waiting) then(latest);
    return latest;
  }
}
