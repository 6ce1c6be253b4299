/**
 * Receiving: waiting receives per channel, the queue keys they need watched,
 * and where a popped member goes (a waiting receive, or the local buffer of a
 * process-specific channel). The popping itself is one loop per shard
 * (shard-loop.ts).
 */
import { LayerClosedError } from "../errors.js";
import type { Message } from "../layer.js";
import { cloneMessage, RESERVED_KEY } from "../message.js";
import { isProcessLocal, nonLocalName } from "../names.js";
import { WaiterList } from "../engine/waiters.js";
import { PendingReceive } from "../pending-receive.js";
import { LocalBuffers } from "./buffers.js";
import type { Shard } from "./connections.js";
import type { Serializer } from "./serializer.js";
import { consistentHash } from "./sharding.js";
import { Prefetch } from "./prefetch.js";
import { ShardLoop, type LoopDemand } from "./shard-loop.js";

/** Members popped from a process key at once (they fan out to local buffers). */
const PROCESS_BATCH = 256;

export interface ReceiverConfig {
  prefix: string;
  shards: Shard[];
  serializer: Serializer;
  /** Seconds a message may wait. */
  expiry: number;
  capacityOf(channel: string): number;
  /** Unix time in seconds, sub-millisecond. */
  now(): number;
  /** Seconds a BZPOPMIN waits before the loop looks again. */
  blockTimeout: number;
  /** Milliseconds between polls on a client without BZPOPMIN (ioredis-mock). */
  pollInterval: number;
  /**
   * Pop members ahead of receives and hold them here (readAheadOutsideRedis):
   * a normal channel's prefetch level, a batch from each process key, and one
   * member per lingering channel. Off: a pop takes only as many members as
   * receives wait for, so nothing sits outside Redis uncounted.
   */
  readAhead: boolean;
  /** Milliseconds a normal channel stays watched after a receive on it was served (0: none; only with readAhead). */
  linger: number;
}

/** A queue key some receive is waiting on. */
interface Watch {
  /** The normal channel behind the key; undefined for a process key. */
  channel: string | undefined;
  /** Waiting receives on local channels behind a process key. */
  locals: number;
  /** The shard of a process key; normal channels are watched on every shard. */
  shard: number;
  /**
   * Other shards to watch a process key on, with how many waiting receives
   * need each: Python's send() hashes a ! channel's full name, so its direct
   * sends land on the shard of the full name (docs/redis-wire.md, "Sharding over several servers").
   */
  extra: Map<number, number> | undefined;
  /**
   * When a normal channel with no waiting receive stops being watched
   * (milliseconds, performance.now); 0 while receives wait on it.
   */
  lingerUntil: number;
}

export class Receiver implements LoopDemand {
  private readonly waiters = new Map<string, WaiterList<Message, PendingReceive<Message>>>();
  private readonly watch = new Map<string, Watch>();
  /** Keys newly watched, whose `$inflight` key gets a TTL on the next pop. */
  private readonly newKeys = new Set<string>();
  /** Keys whose `$inflight` key was seen to lately (bounded: cleared when large). */
  private readonly checkedKeys = new Set<string>();
  /** Bumped whenever the set of watched keys changes, so a blocked loop knows to look again. */
  version = 0;
  readonly buffers = new LocalBuffers();
  /** Members that could not be decoded (a wrong key, garbage): dropped, counted here. */
  dropped = 0;
  /** Messages handed to a receive of this process. */
  received = 0;
  /** Members popped ahead for normal channels (prefetch.ts). */
  readonly ahead: Prefetch;
  private readonly loops: ShardLoop[];
  private readonly sweep: NodeJS.Timeout;
  /** Normal channels watched only because a receive on them was served lately. */
  private lingering = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(readonly config: ReceiverConfig) {
    this.loops = config.shards.map((shard) => new ShardLoop(shard, this));
    this.ahead = new Prefetch(config.shards.length);
    this.sweep = setInterval(() => this.buffers.sweep(this.cutoff()), Math.max(1000, config.expiry * 1000));
    this.sweep.unref();
  }

  cutoff(): number {
    return this.config.now() - this.config.expiry;
  }

  receive(channel: string, signal: AbortSignal | undefined): Promise<Message> {
    const ready = isProcessLocal(channel) ? this.buffers.take(channel, this.cutoff()) : this.ahead.take(channel, this.cutoff());
    if (ready !== undefined) {
      this.received++;
      return Promise.resolve(ready);
    }
    const pending = new PendingReceive<Message>();
    let list = this.waiters.get(channel);
    if (!list) this.waiters.set(channel, (list = new WaiterList()));
    const handle = list.push(pending, () => this.unwatch(channel, false));
    this.watchChannel(channel);
    for (const loop of this.loops) loop.wake();
    if (signal) {
      pending.listen(signal, (reason) => {
        handle.cancel();
        // A pop already on its way may bring a member for this receive: it rejects once that member is back in Redis.
        this.settled(channel).then(
          () => pending.fail(reason),
          (err: unknown) => pending.fail(err),
        );
      });
    }
    return pending.promise;
  }

  /**
   * Resolves once no member popped for a receive on `channel` that was just
   * cancelled can still be outside Redis: at once when another receive waits
   * on it (a member popped for the channel goes to that one); else when
   * every loop has finished the call in flight and put back what nobody
   * took (a process-specific channel's member too, when no receive waits on
   * its process key: see accept).
   */
  private settled(channel: string): Promise<void> {
    if (this.waiters.has(channel)) return Promise.resolve();
    return Promise.all(this.loops.map((loop) => loop.drained())).then(() => undefined);
  }

  private keyOf(channel: string): string {
    return this.config.prefix + nonLocalName(channel);
  }

  private watchChannel(channel: string): void {
    const key = this.keyOf(channel);
    let watch = this.watch.get(key);
    if (!watch) {
      const local = isProcessLocal(channel);
      watch = {
        channel: local ? undefined : channel,
        locals: 0,
        shard: local ? consistentHash(nonLocalName(channel), this.config.shards.length) : -1,
        extra: undefined,
        lingerUntil: 0,
      };
      this.watch.set(key, watch);
      if (!this.checkedKeys.has(key)) this.newKeys.add(key);
      this.version++;
    } else if (watch.lingerUntil !== 0) {
      // Still watched: the loop's BZPOPMIN on it stands, nothing to cut short.
      watch.lingerUntil = 0;
      this.lingering--;
    }
    if (watch.channel === undefined) {
      watch.locals++;
      const full = consistentHash(channel, this.config.shards.length);
      if (full !== watch.shard) {
        watch.extra ??= new Map();
        watch.extra.set(full, (watch.extra.get(full) ?? 0) + 1);
        this.version++;
      }
    }
  }

  /**
   * A receive on `channel` was served or cancelled. A normal channel whose
   * last receive was served stays watched for `linger` ms: a consumer that
   * receives again within it finds its next message already on its way (the
   * loop's BZPOPMIN never stopped), instead of paying a round trip to ask.
   */
  private unwatch(channel: string, served: boolean): void {
    const list = this.waiters.get(channel);
    if (list && list.size === 0) this.waiters.delete(channel);
    const key = this.keyOf(channel);
    const watch = this.watch.get(key);
    if (!watch) return;
    if (watch.channel === undefined) {
      const full = consistentHash(channel, this.config.shards.length);
      const n = watch.extra?.get(full);
      if (n !== undefined) {
        if (n > 1) watch.extra!.set(full, n - 1);
        else watch.extra!.delete(full);
      }
    }
    const idle = watch.channel === undefined ? --watch.locals === 0 : !this.waiters.has(channel);
    if (!idle) return;
    if (served && watch.channel !== undefined && this.config.linger > 0 && !this.closed) {
      if (watch.lingerUntil === 0) this.lingering++;
      watch.lingerUntil = performance.now() + this.config.linger;
      if (!this.lingerTimer) {
        this.lingerTimer = setInterval(() => this.endLingers(), this.config.linger / 2);
        this.lingerTimer.unref();
      }
      return;
    }
    this.stopWatching(key);
  }

  /** Stop watching the normal channels whose linger is over (their extras go back to Redis). */
  private endLingers(): void {
    const t = performance.now();
    for (const [key, watch] of this.watch) {
      if (watch.lingerUntil !== 0 && watch.lingerUntil <= t) {
        this.lingering--;
        this.stopWatching(key);
      }
    }
    if (this.lingering === 0) {
      clearInterval(this.lingerTimer);
      this.lingerTimer = undefined;
    }
  }

  private stopWatching(key: string): void {
    this.watch.delete(key);
    this.newKeys.delete(key);
    this.version++;
    for (const loop of this.loops) loop.wake();
  }

  /** Whether one member popped ahead for normal `channel` stays here: while it lingers. */
  private readonly lingers = (channel: string): boolean => {
    const watch = this.watch.get(this.keyOf(channel));
    return !this.closed && watch?.channel === channel && watch.lingerUntil !== 0;
  };

  /** Whether `shard` holds members popped ahead that must go back to Redis. */
  returnable(shard: number): boolean {
    return this.ahead.pending(shard, this.lingers);
  }

  /** The members popped ahead on `shard` that go back to Redis, as put-backs (key, score, member). */
  reclaim(shard: number): Array<[string, string, Buffer]> {
    return this.ahead.reclaim(shard, this.lingers);
  }

  /** Whether `key` is newly watched: its first pop also sees to its `$inflight` key (takeNewKeys). */
  isNewKey(key: string): boolean {
    return this.newKeys.has(key);
  }

  /** Which of `keys` are newly watched (each is reported once). */
  takeNewKeys(keys: Array<[string, number]>): string[] {
    if (this.newKeys.size === 0) return [];
    const out: string[] = [];
    for (const [key] of keys) if (this.newKeys.delete(key)) out.push(key);
    if (this.checkedKeys.size > 10_000) this.checkedKeys.clear();
    for (const key of out) this.checkedKeys.add(key);
    return out;
  }

  /**
   * Keys to watch on `shard`, each with how many members to pop for the
   * receives waiting on it. A lingering channel gets 0 (the loop only blocks
   * on it) until it holds a member; with `sweep`, 1: once one lingering
   * channel got a member nobody waited for, as every member of a group does
   * at once, popping one for each in a single call beats a BZPOPMIN apiece.
   */
  keysFor(shard: number, sweep = false): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [key, watch] of this.watch) {
      if (watch.channel !== undefined) {
        const waiting = this.waiters.get(watch.channel)?.size ?? 0;
        if (waiting > 0) out.push([key, this.config.readAhead ? waiting + this.ahead.level(watch.channel) : waiting]);
        // One member popped ahead is all a lingering channel gets: more would only go back.
        else if (!this.ahead.holds(watch.channel)) out.push([key, sweep ? 1 : 0]);
      } else if (watch.shard === shard || watch.extra?.has(shard) === true) {
        // Without read-ahead, one member per waiting receive: members for other local channels are buffered (as Python does).
        out.push([key, this.config.readAhead ? PROCESS_BATCH : watch.locals]);
      }
    }
    return out;
  }

  private take(channel: string): PendingReceive<Message> | undefined {
    const pending = this.waiters.get(channel)?.shift();
    if (pending) this.unwatch(channel, true);
    return pending;
  }

  /**
   * Route the members popped from `key` on `shard` (ZPOPMIN's flat reply:
   * member, score, member, score…): each to a waiting receive, else to the
   * extras of its normal channel (taken back by the loop if nobody claims
   * them) or to the local buffer of its process-specific channel. `cutoff` is
   * `this.cutoff()`, read once per reply by the caller: a clock read costs
   * more than the rest of a member's check. Returns whether any became an extra.
   */
  accept(shard: number, key: string, popped: ReadonlyArray<Buffer | string | number>, cutoff: number): boolean {
    const name = key.slice(this.config.prefix.length);
    const local = name.endsWith("!");
    let kept = false;
    for (let j = 0; j + 1 < popped.length; j += 2) {
      const member = popped[j] as Buffer;
      const raw = popped[j + 1]!;
      // A score is ASCII: latin1 reads it faster than utf8.
      const rawScore = Buffer.isBuffer(raw) ? raw.toString("latin1") : String(raw);
      const score = Number(rawScore);
      if (score <= cutoff) continue; // expired: exact expiry at receive
      let message: Message;
      try {
        message = this.config.serializer.decode(member);
      } catch {
        this.dropped++;
        continue;
      }
      const target = message[RESERVED_KEY];
      if (target !== undefined) delete message[RESERVED_KEY];
      if (!local) {
        const pending = this.take(name);
        if (pending) this.handOver(pending, message);
        else {
          this.ahead.keep(shard, name, { message, key, member, rawScore }, score);
          kept = true;
        }
        continue;
      }
      const names = Array.isArray(target) ? target : [typeof target === "string" ? target : name];
      // Popped for a receive that went away, with no receive left on the process key: back to Redis, as a
      // normal channel's extra, so that the shared key's count (capacity) never misses it (docs/semantics.md §4.4, §4.10).
      // (With receives waiting on other local channels it is buffered, as channels_redis does: putting back
      // the head for them would pop it again and again.)
      const only = names.length === 1 ? names[0] : undefined;
      if (typeof only === "string" && !this.config.readAhead && !this.waiters.has(only) && (this.watch.get(key)?.locals ?? 0) === 0) {
        this.ahead.keep(shard, name, { message, key, member, rawScore }, score);
        kept = true;
        continue;
      }
      names.forEach((channel, i) => {
        if (typeof channel !== "string") return;
        const copy = i === 0 ? message : cloneMessage(message);
        const pending = this.take(channel);
        if (pending) this.handOver(pending, copy);
        else this.buffers.push(channel, copy, score, this.config.capacityOf(channel));
      });
    }
    return kept;
  }

  private handOver(pending: PendingReceive<Message>, message: Message): void {
    pending.deliver(message);
    this.received++;
  }

  /** Local channels with buffered messages or waiting receives, buffered messages, and waiting receives. */
  counts(): { channels: number; messages: number; waitingReceivers: number } {
    let waitingReceivers = 0;
    const channels = new Set(this.buffers.names());
    for (const [channel, list] of this.waiters) {
      waitingReceivers += list.size;
      channels.add(channel);
    }
    return { channels: channels.size, messages: this.buffers.messages + this.ahead.size, waitingReceivers };
  }

  /** Reject every waiting receive the loop of `shard` was serving. */
  fail(shard: number, reason: unknown): void {
    for (const [key, watch] of [...this.watch]) {
      if (watch.channel === undefined && watch.shard !== shard && watch.extra?.has(shard) !== true) continue;
      const channels = watch.channel !== undefined ? [watch.channel] : [...this.waiters.keys()].filter((c) => this.keyOf(c) === key);
      for (const channel of channels) {
        for (let p = this.take(channel); p; p = this.take(channel)) p.fail(reason);
      }
    }
  }

  /** Stop the loops and release their connections (`rejectWaiting` ends the receives still waiting). */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    clearInterval(this.sweep);
    clearInterval(this.lingerTimer);
    this.lingerTimer = undefined;
    await Promise.all(this.loops.map((loop) => loop.close(graceMs)));
    this.buffers.clear();
  }

  /**
   * End every waiting receive with LayerClosedError. Called as the last step
   * of close, so the caller awaiting close() can still attach its handlers to
   * those receives in the same turn.
   */
  rejectWaiting(): void {
    const reason = new LayerClosedError("the channel layer was closed while this receive waited");
    for (const channel of [...this.waiters.keys()]) {
      for (let p = this.take(channel); p; p = this.take(channel)) p.fail(reason);
    }
  }
}
