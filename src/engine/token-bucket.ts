/** A token bucket: `burst` tokens, refilled continuously at the rate's pace. */
import type { Rate } from "../options/traffic.js";

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: Rate,
    now: number,
  ) {
    this.tokens = rate.burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.rate.burst, this.tokens + (now - this.last) * this.rate.perMs);
      this.last = now;
    }
  }

  /** Take a token: 0 when taken, else the milliseconds until one is there. */
  take(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.tokens) / this.rate.perMs));
  }

  /** Milliseconds until the bucket is full again (0 when it is). */
  msUntilFull(now: number): number {
    this.refill(now);
    return Math.ceil((this.rate.burst - this.tokens) / this.rate.perMs);
  }
}
