/**
 * TestClock: a clock that moves only when the test says so. Give it to
 * `new InMemoryChannelLayer({ clock })` and message expiry, group expiry and
 * rate limits follow `advance()`, with no sleeping.
 */
export class TestClock {
  private time: number;

  /** `start`: the reading before any `advance()`, in milliseconds. */
  constructor(start = 0) {
    if (!Number.isFinite(start)) throw new RangeError(`a TestClock starts at a finite number of milliseconds, got ${start}`);
    this.time = start;
  }

  /** Milliseconds since the clock's origin; bound, so `clock.now` can be passed on its own. */
  readonly now = (): number => this.time;

  /** Move the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`TestClock.advance() takes a finite number of milliseconds >= 0, got ${ms}`);
    this.time += ms;
  }
}
