/**
 * Receiving: waiting receives per channel, and one loop per shard that pops
 * for them over a dedicated connection. A loop first pops without blocking,
 * in one call for every watched key (as many members as a normal channel has
 * waiting receives, a batch from each process key), and only when that finds
 * nothing does it block in BZPOPMIN over the same keys. A member popped for a
 * receive that was cancelled meanwhile goes back to Redis, at the head with
 * its original score, in the loop's next MULTI on the same connection, before
 * anything else is popped: nothing is lost, nothing is handed out twice.
 */
import type { Redis } from "ioredis";
import { LayerClosedError } from "../errors.js";
import type { Message } from "../layer.js";
import { cloneMessage, RESERVED_KEY } from "../message.js";
import { isProcessLocal, nonLocalName } from "../names.js";
import { WaiterList, type WaitHandle } from "../engine/waiters.js";
import { LocalBuffers } from "./buffers.js";
import type { Shard } from "./connections.js";
import type { Serializer } from "./serializer.js";
import { consistentHash } from "./sharding.js";
import { keyTtlMs } from "./ttl.js";
import { installScripts, type ScriptedRedis } from "./scripts.js";

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
}

class PendingReceive {
  handle: WaitHandle | undefined;
  onAbort: (() => void) | undefined;
  constructor(
    private readonly resolve: (message: Message) => void,
    private readonly reject: (reason: unknown) => void,
    private readonly signal: AbortSignal | undefined,
  ) {}

  deliver(message: Message): boolean {
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
    this.resolve(message);
    return true;
  }

  fail(reason: unknown): void {
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
    this.reject(reason);
  }
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
   * sends land on the shard of the full name (REDIS-WIRE.md, "Sharding").
   */
  extra: Map<number, number>;
}

export class Receiver {
  private readonly waiters = new Map<string, WaiterList<Message, PendingReceive>>();
  private readonly watch = new Map<string, Watch>();
  /** Keys newly watched, whose `$inflight` key gets a TTL on the next pop. */
  private readonly newKeys = new Set<string>();
  /** Bumped whenever the set of watched keys changes, so a blocked loop knows to look again. */
  version = 0;
  readonly buffers = new LocalBuffers();
  /** Members that could not be decoded (a wrong key, garbage): dropped, counted here. */
  dropped = 0;
  private readonly loops: ShardLoop[];
  private readonly sweep: NodeJS.Timeout;
  closed = false;

  constructor(readonly config: ReceiverConfig) {
    this.loops = config.shards.map((shard) => new ShardLoop(shard, this));
    this.sweep = setInterval(() => this.buffers.sweep(this.cutoff()), Math.max(1000, config.expiry * 1000));
    this.sweep.unref();
  }

  cutoff(): number {
    return this.config.now() - this.config.expiry;
  }

  receive(channel: string, signal: AbortSignal | undefined): Promise<Message> {
    if (isProcessLocal(channel)) {
      const buffered = this.buffers.take(channel, this.cutoff());
      if (buffered !== undefined) return Promise.resolve(buffered);
    }
    return new Promise<Message>((resolve, reject) => {
      const pending = new PendingReceive(resolve, reject, signal);
      let list = this.waiters.get(channel);
      if (!list) this.waiters.set(channel, (list = new WaiterList()));
      pending.handle = list.push(pending, () => this.unwatch(channel));
      this.watchChannel(channel);
      if (signal) {
        pending.onAbort = () => {
          pending.handle!.cancel();
          reject(signal.reason);
        };
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      for (const loop of this.loops) loop.wake();
    });
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
        extra: new Map(),
      };
      this.watch.set(key, watch);
      this.newKeys.add(key);
      this.version++;
    }
    if (watch.channel === undefined) {
      watch.locals++;
      const full = consistentHash(channel, this.config.shards.length);
      if (full !== watch.shard) {
        watch.extra.set(full, (watch.extra.get(full) ?? 0) + 1);
        this.version++;
      }
    }
  }

  /** A receive on `channel` was served or cancelled. */
  private unwatch(channel: string): void {
    const list = this.waiters.get(channel);
    if (list && list.size === 0) this.waiters.delete(channel);
    const key = this.keyOf(channel);
    const watch = this.watch.get(key);
    if (!watch) return;
    if (watch.channel === undefined) {
      const full = consistentHash(channel, this.config.shards.length);
      const n = watch.extra.get(full);
      if (n !== undefined) {
        if (n > 1) watch.extra.set(full, n - 1);
        else watch.extra.delete(full);
      }
    }
    const idle = watch.channel === undefined ? --watch.locals === 0 : !this.waiters.has(channel);
    if (!idle) return;
    this.watch.delete(key);
    this.newKeys.delete(key);
    this.version++;
    for (const loop of this.loops) loop.wake();
  }

  /** Which of `keys` are newly watched (each is reported once). */
  takeNewKeys(keys: Array<[string, number]>): string[] {
    if (this.newKeys.size === 0) return [];
    const out: string[] = [];
    for (const [key] of keys) if (this.newKeys.delete(key)) out.push(key);
    return out;
  }

  /** Keys to pop on `shard`, each with how many members to take. */
  keysFor(shard: number): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [key, watch] of this.watch) {
      if (watch.channel !== undefined) out.push([key, this.waiters.get(watch.channel)?.size ?? 0]);
      else if (watch.shard === shard || watch.extra.has(shard)) out.push([key, PROCESS_BATCH]);
    }
    return out;
  }

  private take(channel: string): PendingReceive | undefined {
    const pending = this.waiters.get(channel)?.shift();
    if (pending) this.unwatch(channel);
    return pending;
  }

  /**
   * Route a popped member. Returns false when nobody wants it (a normal
   * channel whose receive was cancelled): the loop then puts it back.
   */
  accept(key: string, member: Buffer, score: number): boolean {
    if (score <= this.cutoff()) return true; // expired: exact expiry at receive
    let message: Message;
    try {
      message = this.config.serializer.decode(member);
    } catch {
      this.dropped++;
      return true;
    }
    const target = message[RESERVED_KEY];
    delete message[RESERVED_KEY];
    const name = key.slice(this.config.prefix.length);
    if (!name.endsWith("!")) {
      const pending = this.take(name);
      return pending ? pending.deliver(message) : false;
    }
    const names = Array.isArray(target) ? target : [typeof target === "string" ? target : name];
    names.forEach((channel, i) => {
      if (typeof channel !== "string") return;
      const copy = i === 0 ? message : cloneMessage(message);
      const pending = this.take(channel);
      if (pending) pending.deliver(copy);
      else this.buffers.push(channel, copy, score, this.config.capacityOf(channel));
    });
    return true;
  }

  /** Reject every waiting receive the loop of `shard` was serving. */
  fail(shard: number, reason: unknown): void {
    for (const [key, watch] of [...this.watch]) {
      if (watch.channel === undefined && watch.shard !== shard && !watch.extra.has(shard)) continue;
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

/** One shard's receive loop and its dedicated connection. */
class ShardLoop {
  private client: Redis | undefined;
  private clientId: number | undefined;
  private state: "idle" | "popping" | "blocked" | "sleeping" = "idle";
  private blockedVersion = -1;
  private unblocking = false;
  private polling = false;
  private rotation = 0;
  private wakeSleep: (() => void) | undefined;
  private putbacks: Array<[string, string, Buffer]> = [];
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly shard: Shard,
    private readonly receiver: Receiver,
  ) {}

  wake(): void {
    if (this.state === "idle") this.done = this.run();
    else if (this.state === "blocked") this.unblock();
    else if (this.state === "sleeping") this.wakeSleep?.();
  }

  private connection(): Redis {
    if (!this.client) {
      this.client = installScripts(this.shard.connect());
      // A reconnect is a new server-side client with a new id.
      this.client.on("ready", () => (this.clientId = undefined));
    }
    return this.client;
  }

  private async run(): Promise<void> {
    const r = this.receiver;
    this.state = "popping";
    try {
      this.polling = !(await this.shard.full());
      for (;;) {
        const version = r.version;
        const keys = r.closed ? [] : r.keysFor(this.shard.index);
        if (keys.length === 0 && this.putbacks.length === 0) break;
        const got = await this.pop(keys);
        if (got > 0 || r.closed || r.version !== version || keys.length === 0) continue;
        await this.block(keys, version);
      }
    } catch (err) {
      r.fail(this.shard.index, this.shard.fail(err));
    } finally {
      this.state = "idle";
    }
  }

  /**
   * One round trip on the loop's own connection: put-backs first, then pop
   * from each key. Expired members are dropped as they arrive (`accept`), so
   * no purge is needed first. Returns how many members were popped.
   */
  private async pop(keys: Array<[string, number]>): Promise<number> {
    const r = this.receiver;
    const client = this.connection() as ScriptedRedis;
    const putbacks = this.putbacks;
    this.putbacks = [];
    const fresh = r.takeNewKeys(keys);
    const ttl = keyTtlMs(r.config.expiry); // as the layer sets on queue keys
    let replies: Array<Array<Buffer | number>>;
    try {
      if (!this.polling) {
        const args: Array<string | number | Buffer> = [keys.length, putbacks.length, fresh.length, ttl];
        for (const [key] of keys) args.push(key);
        for (const [, count] of keys) args.push(count);
        for (const putback of putbacks) args.push(...putback);
        args.push(...fresh);
        replies = await client.chlPopBuffer(...args);
      } else {
        // ioredis-mock cannot return nested script replies: the same steps as a pipeline.
        const tx = client.pipeline();
        for (const [key, score, member] of putbacks) tx.zadd(key, score, member).pexpire(key, ttl);
        for (const key of fresh) tx.pexpire(`${key}$inflight`, ttl, "NX");
        for (const [key, count] of keys) tx.zpopminBuffer(key, count);
        const results = (await tx.exec()) ?? [];
        const skip = putbacks.length * 2 + fresh.length;
        replies = keys.map((_, i) => {
          const [err, value] = results[skip + i] ?? [new Error("missing reply")];
          if (err) throw err;
          return value as Array<Buffer | number>;
        });
      }
    } catch (err) {
      this.putbacks.unshift(...putbacks);
      throw err;
    }
    let popped = 0;
    keys.forEach(([key], i) => {
      const flat = replies[i]!;
      for (let j = 0; j + 1 < flat.length; j += 2) {
        popped++;
        this.route(key, flat[j] as Buffer, flat[j + 1]!);
      }
    });
    return popped;
  }

  private route(key: string, member: Buffer, rawScore: Buffer | number | string): void {
    const score = Number(String(rawScore));
    if (!this.receiver.accept(key, member, score)) this.putbacks.push([key, String(rawScore), member]);
  }

  /**
   * Wait for a member on any of `keys` (BZPOPMIN; CLIENT UNBLOCK cuts it short
   * when the keys change), or, on a client without blocking commands, sleep a
   * poll interval (a new receive wakes it).
   */
  private async block(keys: Array<[string, number]>, version: number): Promise<void> {
    const client = this.connection();
    if (this.polling) {
      this.state = "sleeping";
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.receiver.config.pollInterval);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wakeSleep = done;
      });
      this.wakeSleep = undefined;
      this.state = "popping";
      return;
    }
    this.clientId ??= Number(await client.client("ID"));
    // Rotate the key order: BZPOPMIN serves the first non-empty key, and a busy one must not starve a quiet one.
    const start = this.rotation++ % keys.length;
    const order = [...keys.slice(start), ...keys.slice(0, start)].map(([k]) => k);
    if (this.receiver.version !== version) return;
    this.state = "blocked";
    this.blockedVersion = version;
    try {
      const res = await client.bzpopminBuffer(...order, this.receiver.config.blockTimeout);
      if (res) this.route(res[0].toString(), res[1], res[2].toString());
    } finally {
      this.state = "popping";
    }
  }

  /** Cut a BZPOPMIN short; retried until it lands, since it may reach Redis before the BZPOPMIN does. */
  private unblock(): void {
    if (this.unblocking) return;
    this.unblocking = true;
    void (async () => {
      try {
        while (this.state === "blocked" && (this.receiver.closed || this.receiver.version !== this.blockedVersion)) {
          const id = this.clientId;
          if (id === undefined) break;
          const n = await this.shard.commands.client("UNBLOCK", id);
          if (n !== 0) break;
          await new Promise((r) => setTimeout(r, 1));
        }
      } catch {
        // Redis is away: the BZPOPMIN ends by its own timeout or with the connection.
      } finally {
        this.unblocking = false;
      }
    })();
  }

  async close(graceMs: number): Promise<void> {
    this.wake();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.done, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    const client = this.client;
    this.client = undefined;
    if (client) client.disconnect();
  }
}
