/**
 * Token buckets for throttling client frames: a rate such as "20/s" refills
 * the bucket, `burst` is how many tokens it holds.
 */

export interface RateLimit {
  /** "N/s", "N/m" or "N/h": tokens added per second, minute or hour. */
  rate: string;
  /** Tokens the bucket holds (frames allowed at once after a quiet spell). Default: the rate's N. */
  burst?: number;
}

const UNITS: Record<string, number> = { s: 1, sec: 1, second: 1, m: 60, min: 60, minute: 60, h: 3600, hour: 3600 };

/** Parse "20/s" into tokens per millisecond; a clear RangeError for anything else. */
export function parseRate(rate: string): { perMs: number; count: number } {
  const m = /^\s*(\d+(?:\.\d+)?)\s*\/\s*([a-z]+)\s*$/i.exec(rate);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const count = m ? Number(m[1]) : NaN;
  if (!m || unit === undefined || !(count > 0)) {
    throw new RangeError(`throttle rate ${JSON.stringify(rate)} is not of the form "N/s", "N/m" or "N/h" with N > 0`);
  }
  return { perMs: count / (unit * 1000), count };
}

export class TokenBucket {
  private readonly perMs: number;
  readonly burst: number;
  private tokens: number;
  private last: number;

  constructor(
    limit: RateLimit | string,
    private readonly clock: () => number = () => performance.now(),
  ) {
    const { rate, burst } = typeof limit === "string" ? { rate: limit, burst: undefined } : limit;
    const parsed = parseRate(rate);
    this.perMs = parsed.perMs;
    this.burst = burst ?? Math.max(1, Math.floor(parsed.count));
    if (!Number.isInteger(this.burst) || this.burst < 1) {
      throw new RangeError(`throttle burst must be a positive integer, got ${burst}`);
    }
    this.tokens = this.burst;
    this.last = clock();
  }

  /** Take one token if there is one; `false` means over the limit. */
  take(): boolean {
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** What happens to a frame over the limit: an error frame to the client, or the socket closed. */
export type OverLimit = "error" | "close";

export interface ThrottleOptions {
  /** One bucket per connection. */
  connection?: RateLimit | string;
  /** One bucket shared by every connection of the route. */
  route?: RateLimit | string;
  /** Default "error": the frame is dropped and the client told with an error frame. */
  onLimit?: OverLimit;
}

/** A route's throttle: its shared bucket, and a fresh bucket for each connection. */
export class Throttle {
  private readonly routeBucket: TokenBucket | undefined;
  readonly onLimit: OverLimit;

  constructor(
    private readonly options: ThrottleOptions,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.routeBucket = options.route === undefined ? undefined : new TokenBucket(options.route, clock);
    if (options.connection !== undefined) new TokenBucket(options.connection, clock); // fail fast on a bad rate
    this.onLimit = options.onLimit ?? "error";
    if (this.onLimit !== "error" && this.onLimit !== "close") {
      throw new RangeError(`throttle onLimit must be "error" or "close", got ${JSON.stringify(this.onLimit)}`);
    }
  }

  /** An admit function for one connection: `true` when the frame is within both limits. */
  forConnection(): () => boolean {
    const own = this.options.connection === undefined ? undefined : new TokenBucket(this.options.connection, this.clock);
    const route = this.routeBucket;
    return () => (own === undefined || own.take()) && (route === undefined || route.take());
  }
}
