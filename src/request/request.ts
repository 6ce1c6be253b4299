/**
 * Request/reply over channels (docs/request.md): `layer.request()` sends a
 * message carrying a `reply_channel` (the field Channels used for replies) to
 * a worker channel and resolves with the first message sent back there.
 *
 * One `Requester` per layer keeps what a request leaves behind bounded: a
 * caller that gives up (timeout, abort) is answered at once, while its reply
 * channel stays watched for a short while so that a late reply is taken out
 * and counted instead of sitting unseen until it expires.
 */
import { LayerClosedError, RequestFailedError, RequestTimeoutError } from "../errors.js";
import type { ChannelLayer, Message, RequestOptions } from "../layer.js";
import type { ReplyCacheStats, RequestCounters, RequestStats } from "../stats.js";
import { cacheKey, MemoryReplyCache, type ReplyCache } from "./cache.js";

export type { RequestOptions };

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** How long a reply channel stays watched after its caller gave up, and how many may be at once. */
const LATE_WATCH_MS = 10_000;
const LATE_WATCH_MAX = 1024;

/** The reply a worker sends for a failed handler: `{ type: "error", code, message }`. */
export function isErrorReply(reply: Message): boolean {
  return reply.type === "error";
}

/** Whether a worker said a reply must not be cached (`cacheable: false`). */
function cacheable(reply: Message): boolean {
  return reply.cacheable !== false && !isErrorReply(reply);
}

function assertTimeout(timeout: number): void {
  if (!(timeout > 0)) throw new RangeError(`request timeout must be a positive number of milliseconds or Infinity, got ${timeout}`);
}

function assertCacheFor(cacheFor: number): void {
  if (!(cacheFor >= 0) || cacheFor === Infinity) throw new RangeError(`cacheFor must be a finite number of seconds ≥ 0, got ${cacheFor}`);
}

export class Requester {
  readonly counters: RequestCounters = { sent: 0, replied: 0, failed: 0, timedOut: 0, late: 0, cacheHits: 0, cacheMisses: 0, coalesced: 0 };
  /** Equal cacheable requests under way: the first one's reply answers them all. */
  private readonly inFlight = new Map<string, Promise<Message>>();
  /** Reply channels still watched for a late reply, each with the controller that ends its watch. */
  private readonly watching = new Map<string, { stop: AbortController; timer: NodeJS.Timeout }>();

  constructor(
    private readonly layer: ChannelLayer,
    private readonly cache: ReplyCache,
  ) {}

  async request(channel: string, message: Message, options: RequestOptions = {}): Promise<Message> {
    return (await this.exchange(channel, message, options)).reply;
  }

  /**
   * `request`, also saying how old a cached reply is (seconds; 0 when a
   * worker just made it). `storable` may keep a reply out of the cache (the
   * gateway's rule for replies to one user).
   */
  async exchange(
    channel: string,
    message: Message,
    options: RequestOptions = {},
    storable: (reply: Message) => boolean = () => true,
  ): Promise<{ reply: Message; age: number }> {
    const timeout = options.timeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
    assertTimeout(timeout);
    const cacheFor = options.cacheFor ?? 0;
    assertCacheFor(cacheFor);
    options.signal?.throwIfAborted();
    if (cacheFor === 0) return { reply: this.unwrap(await this.call(channel, message, timeout, options)), age: 0 };

    const key = cacheKey(channel, message);
    const cached = await this.cache.get(key);
    // Never older than this caller's cacheFor, whatever TTL its writer gave it (or a storedAt in the future claims).
    const ageMs = cached === undefined ? 0 : Date.now() - cached.storedAt;
    if (cached !== undefined && Math.abs(ageMs) < cacheFor * 1000) {
      this.counters.cacheHits++;
      return { reply: this.unwrap(cached.reply), age: Math.max(0, Math.floor(ageMs / 1000)) };
    }
    this.counters.cacheMisses++;
    const running = this.inFlight.get(key);
    if (running !== undefined) {
      this.counters.coalesced++;
      return { reply: this.unwrap(await withSignal(running, options.signal)), age: 0 };
    }
    // The shared call is not tied to the first caller's signal: one caller
    // giving up must not fail the others that joined it.
    const shared = this.call(channel, message, timeout, { priority: options.priority });
    this.inFlight.set(key, shared);
    void shared.then(
      (reply) => {
        this.inFlight.delete(key);
        if (cacheable(reply) && storable(reply)) void this.cache.set(key, reply, cacheFor).catch(() => undefined);
      },
      () => this.inFlight.delete(key),
    );
    return { reply: this.unwrap(await withSignal(shared, options.signal)), age: 0 };
  }

  /** The counters, with the cache's own figures where it keeps them in this process. */
  stats(): RequestStats {
    const cache = (this.cache as { stats?: () => ReplyCacheStats }).stats?.();
    return cache === undefined ? { ...this.counters } : { ...this.counters, cache };
  }

  /** Ends every late-reply watch (the layer is closing). */
  close(): void {
    for (const { stop, timer } of this.watching.values()) {
      clearTimeout(timer);
      stop.abort();
    }
    this.watching.clear();
  }

  private unwrap(reply: Message): Message {
    if (!isErrorReply(reply)) return reply;
    this.counters.failed++;
    throw new RequestFailedError(String(reply.code ?? "ERR_HANDLER"), String(reply.message ?? "the worker's handler failed"));
  }

  /** Send to a worker and wait for its reply on a fresh process-local channel. */
  private async call(channel: string, message: Message, timeout: number, options: RequestOptions): Promise<Message> {
    const replyChannel = await this.layer.newChannel("reply");
    await this.layer.send(channel, { ...message, reply_channel: replyChannel }, options.priority === undefined ? undefined : { priority: options.priority });
    this.counters.sent++;
    const waiting = new AbortController();
    const receive = this.layer.receive(replyChannel, { signal: waiting.signal });
    const gaveUp = new Promise<never>((_, reject) => {
      const timer = timeout === Infinity ? undefined : setTimeout(() => reject(new RequestTimeoutError(channel, timeout)), timeout);
      const onAbort = (): void => reject(options.signal!.reason);
      // The caller may have given up while the request was being sent.
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener("abort", onAbort, { once: true });
      const settle = (): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      };
      receive.then(settle, settle);
    });
    try {
      const reply = await Promise.race([receive, gaveUp]);
      this.counters.replied++;
      return reply;
    } catch (err) {
      if (err instanceof RequestTimeoutError) this.counters.timedOut++;
      if (!(err instanceof LayerClosedError)) this.watchLate(replyChannel, receive, waiting);
      throw err;
    }
  }

  /**
   * Keep the abandoned receive running for a while: a reply that comes late is
   * taken and counted, not left behind. Past LATE_WATCH_MAX watches at once,
   * the receive is aborted at once and a late reply simply expires.
   */
  private watchLate(replyChannel: string, receive: Promise<Message>, waiting: AbortController): void {
    if (this.watching.size >= LATE_WATCH_MAX) {
      waiting.abort();
      receive.catch(() => undefined);
      return;
    }
    const timer = setTimeout(() => waiting.abort(), LATE_WATCH_MS);
    timer.unref();
    this.watching.set(replyChannel, { stop: waiting, timer });
    receive.then(
      () => this.counters.late++,
      () => undefined,
    ).finally(() => {
      clearTimeout(timer);
      this.watching.delete(replyChannel);
    });
  }
}

/** `promise`, or the signal's reason if it aborts first. */
function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

const requesters = new WeakMap<ChannelLayer, Requester>();

/** The layer's own Requester (every bundled backend has one), else one kept for that layer. */
export function requesterOf(layer: ChannelLayer): Requester {
  const own = (layer as { requester?: unknown }).requester;
  if (own instanceof Requester) return own;
  let requester = requesters.get(layer);
  if (requester === undefined) requesters.set(layer, (requester = new Requester(layer, new MemoryReplyCache())));
  return requester;
}

/** `layer.request(…)` for any ChannelLayer, one written elsewhere included. */
export function request(layer: ChannelLayer, channel: string, message: Message, options?: RequestOptions): Promise<Message> {
  return requesterOf(layer).request(channel, message, options);
}
