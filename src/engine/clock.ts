/**
 * The engine's default clock, cached as docs/semantics.md §4.5 allows: a reading serves
 * until the current turn of the event loop ends (the next process.nextTick
 * boundary) or 64 reads, whichever comes first. A loop that sends and
 * receives without yielding re-reads every 64 calls; a callback from the
 * event loop always starts with a fresh reading. Reading `performance.now()`
 * on every call cost about a sixth of an in-memory round trip.
 */

/** Reads served by one reading of the clock. */
export const READS_PER_READING = 64;

export class CachedClock {
  private value = 0;
  /** Reads left for the current reading; 0 means read the clock next time. */
  private left = 0;
  private tickPending = false;

  constructor(private readonly source: () => number = () => performance.now()) {}

  /** Milliseconds, never going backwards (the source is monotonic). */
  readonly now = (): number => {
    if (this.left === 0) return this.read();
    this.left--;
    return this.value;
  };

  private read(): number {
    this.value = this.source();
    this.left = READS_PER_READING - 1;
    if (!this.tickPending) {
      this.tickPending = true;
      process.nextTick(this.endTurn);
    }
    return this.value;
  }

  private readonly endTurn = (): void => {
    this.tickPending = false;
    this.left = 0;
  };
}

/** A clock a layer or broker may be given: milliseconds from a fixed origin, or an object with `now()` (a `TestClock`). */
export type ClockOption = (() => number) | { now(): number };

/** The engine's clock for `option`: the given one, else `fallback`. */
export function engineClock(option: ClockOption | undefined, fallback: () => number): () => number {
  if (option === undefined) return fallback;
  if (typeof option === "function") return option;
  if (typeof option?.now === "function") return () => option.now();
  throw new TypeError("clock must be a function returning milliseconds or an object with now() (a TestClock)");
}
