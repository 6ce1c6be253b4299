/**
 * Throttling client frames: token buckets per connection and per route, the
 * same buckets and rate syntax ("20/s", { rate, burst }) as the layer's
 * `rateLimits`.
 */
import { TokenBucket } from "../engine/token-bucket.js";
import { parseRate, type Rate, type RateLimit } from "../options/traffic.js";

/** What happens to a frame over the limit: an error frame to the client, or the socket closed. */
export type OverLimit = "error" | "close";

export interface ThrottleOptions {
  /** One bucket per connection. */
  connection?: RateLimit;
  /** One bucket shared by every connection of the route. */
  route?: RateLimit;
  /** Default "error": the frame is dropped and the client told with an error frame. */
  onLimit?: OverLimit;
}

/** A route's throttle: its shared bucket, and a fresh bucket for each connection. */
export class Throttle {
  private readonly routeBucket: TokenBucket | undefined;
  private readonly connectionRate: Rate | undefined;
  readonly onLimit: OverLimit;

  constructor(
    options: ThrottleOptions,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.connectionRate = options.connection === undefined ? undefined : parseRate(options.connection, "throttle.connection");
    this.routeBucket = options.route === undefined ? undefined : new TokenBucket(parseRate(options.route, "throttle.route"), clock());
    this.onLimit = options.onLimit ?? "error";
    if (this.onLimit !== "error" && this.onLimit !== "close") {
      throw new RangeError(`throttle onLimit must be "error" or "close", got ${JSON.stringify(this.onLimit)}`);
    }
  }

  /** An admit function for one connection: `true` when the frame is within both limits. */
  forConnection(): () => boolean {
    const own = this.connectionRate && new TokenBucket(this.connectionRate, this.clock());
    const route = this.routeBucket;
    return () => {
      const now = this.clock();
      return (own === undefined || own.take(now) === 0) && (route === undefined || route.take(now) === 0);
    };
  }
}
