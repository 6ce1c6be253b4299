/**
 * Receiving: the receive buffer's source for Redis (src/client/receive-buffer.ts
 * keeps callers in call order, the window, the linger and the give-back), the
 * queue keys its channels need watched, and where a popped member goes (a
 * waiting receive, held ahead, or the local buffer of a process-specific
 * channel). The popping itself is one loop per shard (shard-loop.ts).
 */
import { LayerClosedError } from "../errors.js";
import type { Message } from "../layer.js";
import { cloneMessage, RESERVED_KEY } from "../message.js";
import { isProcessLocal, nonLocalName } from "../names.js";
import { NotAMessage } from "../client/not-a-message.js";
import { PendingReceive } from "../client/pending-receive.js";
import { type Caller, type Inbox, ReceiveBuffer, type ReceiveSource } from "../client/receive-buffer.js";
import { LocalBuffers } from "./buffers.js";
import type { Shard } from "./connections.js";
import type { Serializer } from "./serializer.js";
import { consistentHash } from "./sharding.js";
import { ShardLoop, type LoopDemand } from "./shard-loop.js";

/** Members popped from a process key at once (they fan out to local buffers). */
const PROCESS_BATCH = 256;

/** Most members a normal channel's receives may have popped ahead of them (readAheadOutsideRedis). */
const MAX_WINDOW = 64;

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
   * a normal channel's window, a batch from each process key, and one member
   * per lingering channel. Off: a pop takes only as many members as receives
   * wait for, so nothing sits outside Redis uncounted.
   */
  readAhead: boolean;
  /** Milliseconds a normal channel stays watched after a receive on it was served (0: none; only with readAhead). */
  linger: number;
  /**
   * A normal channel's key is on the shard its name hashes to (a Redis
   * Cluster: layer.ts), not on every shard; a shard's keys carry its tag.
   */
  placeByName: boolean;
}

/** A queue key some receive is waiting on. */
interface Watch {
  /** The normal channel behind the key; undefined for a process key. */
  channel: string | undefined;
  /** Waiting receives on local channels behind a process key. */
  locals: number;
  /** The shard of a process key; -1: a normal channel, watched on every shard (but with placeByName). */
  shard: number;
  /**
   * Other shards to watch a process key on, with how many waiting receives
   * need each: Python's send() hashes a ! channel's full name, so its direct
   * sends land on the shard of the full name (docs/redis-wire.md, "Sharding over several servers").
   */
  extra: Map<number, number> | undefined;
}

/** A member popped and not (yet) handed to a receive, kept as it came so it can go back unchanged. */
export interface Extra {
  message: Message | NotAMessage;
  /** Its queue key, shard and score (as Redis sent it, and as a number). */
  key: string;
  shard: number;
  rawScore: string;
  score: number;
  member: Buffer;
}

type RedisInbox = Inbox<Extra, undefined>;

/**
 * Members of normal channels popped for nobody are held in the buffer: by
 * default only those of a receive cancelled while its pop was on its way,
 * which go back at the tick's end. With readAheadOutsideRedis, a pop takes
 * the waiting receives plus the channel's window; extras a consumer does not
 * take in the same turn go back to the head of the queue, with their original
 * score, in their shard loop's next call, but for one member of a lingering
 * channel, kept for its consumer's next receive until the linger ends (its
 * score is its sender's clock, so its expiry is still exact here).
 */
export class Receiver implements LoopDemand, ReceiveSource<Extra, undefined> {
  private readonly buffer: ReceiveBuffer<Extra, undefined>;
  private readonly watch = new Map<string, Watch>();
  /** Keys newly watched, whose `$inflight` key gets a TTL on the next pop. */
  private readonly newKeys = new Set<string>();
  /** Keys whose `$inflight` key was seen to lately (bounded: cleared when large). */
  private readonly checkedKeys = new Set<string>();
  /** Per shard, bumped whenever the keys watched on it change, so its loop, if blocked, looks again. */
  private readonly versions: number[];
  readonly buffers = new LocalBuffers();
  /** Members that held no message (garbage, a wrong key, no `type`…): their receives failed with InvalidMessageError; counted here. */
  dropped = 0;
  /** Messages handed to a receive of this process. */
  received = 0;
  private readonly loops: ShardLoop[];
  private readonly sweep: NodeJS.Timeout;
  /** Receives still waiting when close began: they hear of it last (rejectWaiting). */
  private closedCallers: Caller[] = [];
  closed = false;

  constructor(readonly config: ReceiverConfig) {
    this.versions = config.shards.map(() => 0);
    this.loops = config.shards.map((shard) => new ShardLoop(shard, this));
    this.buffer = new ReceiveBuffer(this, {
      maxWindow: config.readAhead ? MAX_WINDOW : 0,
      linger: config.readAhead ? config.linger : 0,
      keepWhileLingering: true,
    });
    this.sweep = setInterval(() => this.buffers.sweep(this.cutoff()), Math.max(1000, config.expiry * 1000));
    this.sweep.unref();
  }

  cutoff(): number {
    return this.config.now() - this.config.expiry;
  }

  versionOf(shard: number): number {
    return this.versions[shard]!;
  }

  /** The shards whose loops serve `watch`: its own (every shard for -1) and the extra ones of a process key. */
  private shardsOf(watch: Watch): number[] {
    if (watch.shard === -1) return this.versions.map((_, i) => i);
    return watch.extra === undefined ? [watch.shard] : [watch.shard, ...watch.extra.keys()];
  }

  /** The keys watched on `shards` changed (`changed`) or a receive waits there: only their loops look again. */
  private wakeLoops(shards: number[], changed: boolean): void {
    for (const i of shards) {
      if (changed) this.versions[i]!++;
      this.loops[i]!.wake();
    }
  }

  receive(channel: string, signal: AbortSignal | undefined): Promise<Message> {
    if (isProcessLocal(channel)) {
      const ready = this.buffers.take(channel, this.cutoff());
      if (ready instanceof NotAMessage) return Promise.reject(ready.error());
      if (ready !== undefined) {
        this.received++;
        return Promise.resolve(ready);
      }
    }
    const pending = new PendingReceive<Message>();
    const handle = this.buffer.add(channel, pending);
    if (signal && handle) {
      pending.listen(signal, (reason) => {
        if (!handle.cancel()) return;
        // A pop already on its way may bring a member for this receive: it rejects once that member is back in Redis.
        this.whenSettled(channel).then(
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
   * every loop that pops its key has finished the call in flight and put
   * back what nobody took (a process-specific channel's member too, when no
   * receive waits on its process key: see accept). Only those loops: one
   * blocked on other shards' keys is not cut short for it.
   */
  private whenSettled(channel: string): Promise<void> {
    if (this.buffer.waiting(channel) > 0) return Promise.resolve();
    const own = this.shardOf(channel);
    const shards = own === -1 ? this.loops.map((_, i) => i) : [own];
    // Python's direct sends to a ! channel land on the shard of its full name (Watch.extra).
    if (isProcessLocal(channel) && !this.config.placeByName) shards.push(consistentHash(channel, this.config.shards.length));
    return Promise.all(shards.map((i) => this.loops[i]!.whenDrained())).then(() => undefined);
  }

  private keyOf(channel: string): string {
    return this.config.prefix + nonLocalName(channel);
  }

  /** The one shard that holds `channel`'s key, or -1 for a normal channel sent to every shard in turn. */
  private shardOf(channel: string): number {
    return isProcessLocal(channel) || this.config.placeByName ? consistentHash(nonLocalName(channel), this.config.shards.length) : -1;
  }

  /** A key as `shard` holds it: with the shard's hash tag on a cluster (connections.ts). */
  private tagged(shard: number, key: string): string {
    return this.config.shards[shard]!.tag + key;
  }

  private untagged(shard: number, key: string): string {
    return key.slice(this.config.shards[shard]!.tag.length);
  }

  // The source's side of the buffer (src/client/receive-buffer.ts).

  create(): undefined {
    return undefined;
  }

  /** A receive waits on the channel: its key is watched (a process key counts its receives). */
  wait(inbox: RedisInbox): void {
    const channel = inbox.channel;
    const key = this.keyOf(channel);
    let watch = this.watch.get(key);
    if (!watch) {
      const local = isProcessLocal(channel);
      watch = {
        channel: local ? undefined : channel,
        locals: 0,
        shard: this.shardOf(channel),
        extra: undefined,
      };
      this.watch.set(key, watch);
      if (!this.checkedKeys.has(key)) this.newKeys.add(key);
      this.wakeLoops(this.shardsOf(watch), true);
    }
    // A key still watched (a linger) keeps the loop's BZPOPMIN on it standing: nothing to cut short.
    if (watch.channel === undefined) {
      watch.locals++;
      const full = consistentHash(channel, this.config.shards.length);
      if (full !== watch.shard && !this.config.placeByName) {
        const added = !watch.extra?.has(full);
        watch.extra ??= new Map();
        watch.extra.set(full, (watch.extra.get(full) ?? 0) + 1);
        if (added) this.wakeLoops([full], true);
      }
    }
    this.wakeLoops(this.shardsOf(watch), false);
  }

  /** A receive on a process-specific channel was served or gave up: its process key loses one. */
  onLeave(inbox: RedisInbox): void {
    if (!isProcessLocal(inbox.channel)) return;
    const key = this.keyOf(inbox.channel);
    const watch = this.watch.get(key);
    if (!watch) return;
    const full = consistentHash(inbox.channel, this.config.shards.length);
    const n = watch.extra?.get(full);
    if (n !== undefined) {
      if (n > 1) watch.extra!.set(full, n - 1);
      else watch.extra!.delete(full);
    }
    if (--watch.locals === 0) this.stopWatching(key);
  }

  /** Nobody waits on a normal channel and it does not linger: its key is not watched any more. */
  stop(inbox: RedisInbox): void {
    if (isProcessLocal(inbox.channel)) return;
    const key = this.keyOf(inbox.channel);
    if (this.watch.get(key)?.channel === inbox.channel) this.stopWatching(key);
  }

  /**
   * A normal channel lingers: its key stays watched, so a consumer that
   * receives again within the linger finds its next message already on its
   * way (the loop's BZPOPMIN never stopped), instead of paying a round trip.
   */
  linger(inbox: RedisInbox): void {
    if (isProcessLocal(inbox.channel) || this.closed) return;
    const key = this.keyOf(inbox.channel);
    if (this.watch.has(key)) return;
    const watch: Watch = { channel: inbox.channel, locals: 0, shard: this.shardOf(inbox.channel), extra: undefined };
    this.watch.set(key, watch);
    if (!this.checkedKeys.has(key)) this.newKeys.add(key);
    this.wakeLoops(this.shardsOf(watch), true);
  }

  /** Members nobody took go back to the head of their queues, with their scores, in their loops' next calls. */
  giveBack(_inbox: RedisInbox, items: Extra[]): void {
    for (const item of items) this.loops[item.shard]!.putBack(item.key, item.rawScore, item.member);
  }

  open(item: Extra): Message {
    if (item.message instanceof NotAMessage) throw item.message.error();
    return item.message;
  }

  /** Exact expiry for a member held ahead: its score is its sender's clock. */
  expired(item: Extra): boolean {
    return item.score <= this.cutoff();
  }

  onTake(): void {
    this.received++;
  }

  busy(): boolean {
    return false;
  }

  private stopWatching(key: string): void {
    const watch = this.watch.get(key);
    if (!watch) return;
    this.watch.delete(key);
    this.newKeys.delete(key);
    this.wakeLoops(this.shardsOf(watch), true);
  }

  /** Whether `key` (as `shard` holds it) is newly watched: its first pop also sees to its `$inflight` key (takeNewKeys). */
  isNewKey(shard: number, key: string): boolean {
    return this.newKeys.has(this.untagged(shard, key));
  }

  /** Which of `keys` (as `shard` holds them) are newly watched (each is reported once). */
  takeNewKeys(shard: number, keys: Array<[string, number]>): string[] {
    if (this.newKeys.size === 0) return [];
    const out: string[] = [];
    for (const [key] of keys) {
      const plain = this.untagged(shard, key);
      if (!this.newKeys.delete(plain)) continue;
      out.push(key);
      this.checkedKeys.add(plain);
    }
    if (this.checkedKeys.size > 10_000) this.checkedKeys.clear();
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
        if (watch.shard !== -1 && watch.shard !== shard) continue;
        const inbox = this.buffer.get(watch.channel);
        if (inbox === undefined) continue;
        const waiting = inbox.callers.size;
        if (waiting > 0) out.push([this.tagged(shard, key), waiting + inbox.window]);
        // One member popped ahead is all a lingering channel gets: more would only go back.
        else if (inbox.lingerUntil !== 0 && inbox.ahead.length === 0) out.push([this.tagged(shard, key), sweep ? 1 : 0]);
      } else if (watch.shard === shard || watch.extra?.has(shard) === true) {
        // Without read-ahead, one member per waiting receive: members for other local channels are buffered (as Python does).
        out.push([this.tagged(shard, key), this.config.readAhead ? PROCESS_BATCH : watch.locals]);
      }
    }
    return out;
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
    const plain = this.untagged(shard, key);
    const name = plain.slice(this.config.prefix.length);
    const local = name.endsWith("!");
    let kept = false;
    for (let j = 0; j + 1 < popped.length; j += 2) {
      const member = popped[j] as Buffer;
      const raw = popped[j + 1]!;
      // A score is ASCII: latin1 reads it faster than utf8.
      const rawScore = Buffer.isBuffer(raw) ? raw.toString("latin1") : String(raw);
      const score = Number(rawScore);
      if (score <= cutoff) continue; // expired: exact expiry at receive
      const message = this.config.serializer.decode(member);
      if (message instanceof NotAMessage) {
        this.dropped++;
        // The receive it was popped for fails (src/client/not-a-message.ts): a normal channel's next one, or the one
        // of the local channel it names. One whose addressee cannot be read (garbage on a process key) is only counted.
        if (!local) {
          if (this.buffer.arrive(this.buffer.inbox(name), { message, key, shard, rawScore, score, member })) kept = true;
        } else {
          for (const channel of [message.addressee].flat()) if (typeof channel === "string") this.toLocal(channel, message, score);
        }
        continue;
      }
      const target = message[RESERVED_KEY];
      if (target !== undefined) delete message[RESERVED_KEY];
      if (!local) {
        if (this.buffer.arrive(this.buffer.inbox(name), { message, key, shard, rawScore, score, member })) kept = true;
        continue;
      }
      const names = Array.isArray(target) ? target : [typeof target === "string" ? target : name];
      // Popped for a receive that went away, with no receive left on the process key: back to Redis, as a
      // normal channel's extra, so that the shared key's count (capacity) never misses it (docs/semantics.md §4.4, §4.10).
      // (With receives waiting on other local channels it is buffered, as channels_redis does: putting back
      // the head for them would pop it again and again.)
      const only = names.length === 1 ? names[0] : undefined;
      if (
        typeof only === "string" &&
        !this.config.readAhead &&
        this.buffer.waiting(only) === 0 &&
        (this.watch.get(plain)?.locals ?? 0) === 0
      ) {
        this.buffer.arrive(this.buffer.inbox(name), { message, key, shard, rawScore, score, member });
        kept = true;
        continue;
      }
      names.forEach((channel, i) => {
        if (typeof channel === "string") this.toLocal(channel, i === 0 ? message : cloneMessage(message), score);
      });
    }
    return kept;
  }

  /** To a receive waiting on a local channel, else to its buffer. */
  private toLocal(channel: string, message: Message | NotAMessage, score: number): void {
    const pending = this.buffer.take(channel);
    if (!pending) return this.buffers.push(channel, message, score, this.config.capacityOf(channel));
    if (message instanceof NotAMessage) return pending.fail(message.error());
    pending.deliver(message);
    this.received++;
  }

  /** Local channels with buffered messages or waiting receives, messages held here, and waiting receives. */
  counts(): { channels: number; messages: number; waitingReceivers: number } {
    let waitingReceivers = 0;
    const channels = new Set(this.buffers.names());
    for (const inbox of this.buffer.inboxes()) {
      if (inbox.callers.size === 0) continue;
      waitingReceivers += inbox.callers.size;
      channels.add(inbox.channel);
    }
    return { channels: channels.size, messages: this.buffers.messages + this.buffer.heldAhead, waitingReceivers };
  }

  /** Forget every member held ahead without putting it back (flush emptied their channels). */
  dropAhead(): void {
    for (const inbox of this.buffer.inboxes()) if (inbox.ahead.length > 0) this.buffer.dropAhead(inbox);
  }

  /** Reject every waiting receive the loop of `shard` was serving. */
  fail(shard: number, reason: unknown): void {
    for (const [key, watch] of [...this.watch]) {
      if (watch.shard !== -1 && watch.shard !== shard && watch.extra?.has(shard) !== true) continue;
      const channels =
        watch.channel !== undefined
          ? [watch.channel]
          : [...this.buffer.inboxes()].map((i) => i.channel).filter((c) => this.keyOf(c) === key);
      for (const channel of channels) this.buffer.failWaiting(channel, reason);
    }
  }

  /**
   * Stop the loops and release their connections: what is held ahead goes
   * back first; the receives still waiting hear of it in `rejectWaiting`.
   */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    clearInterval(this.sweep);
    this.closedCallers = this.buffer.close();
    this.buffer.giveBackAll();
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
    const callers = this.closedCallers;
    this.closedCallers = [];
    for (const caller of callers) caller.fail(reason);
  }
}
