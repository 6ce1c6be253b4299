/**
 * One shard's receive loop over its own connection. It first pops without
 * blocking, in one call for every key with waiting receives (as many members
 * as a normal channel has waiting receives, one per waiting receive from a
 * process key; more with readAheadOutsideRedis), and only when that finds
 * nothing does it block in BZPOPMIN over every watched key (with the opt-in
 * linger, lingering ones too). A member nobody took (its receive was
 * cancelled while the pop was on its way, or, opted in, it was popped ahead
 * and not claimed in that turn) goes back to Redis, at the head with its
 * original score, in the loop's next call on the same connection, before
 * anything else is popped: nothing is lost, nothing is handed out twice.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { isConnectionError, type Shard } from "./connections.js";
import { installScripts, type ScriptedRedis } from "./scripts.js";
import { keyTtlMs } from "./ttl.js";

/**
 * What a loop asks of the receives it serves (receiver.ts implements it): the
 * keys to pop and how many, and where popped members go. What goes back comes
 * to the loop through putBack.
 */
export interface LoopDemand {
  readonly config: { readonly expiry: number; readonly pollInterval: number; readonly blockTimeout: number };
  /** Bumped whenever the keys watched on `shard` change: its loop, blocked, looks again. */
  versionOf(shard: number): number;
  readonly closed: boolean;
  /** Keys to watch on `shard`, each with how many members to pop (0: only block on it). */
  keysFor(shard: number, sweep: boolean): Array<[string, number]>;
  /** Whether `key` of `shard` is newly watched (its first pop also sees to its `$inflight` key). */
  isNewKey(shard: number, key: string): boolean;
  /** Which of `keys` of `shard` are newly watched, each reported once. */
  takeNewKeys(shard: number, keys: Array<[string, number]>): string[];
  /** Scores at or below this are expired members. */
  cutoff(): number;
  /** Route the members popped from `key` (member, score, …); true when any was kept ahead for nobody. */
  accept(shard: number, key: string, popped: ReadonlyArray<Buffer | string | number>, cutoff: number): boolean;
  /** The loop of `shard` failed: its waiting receives hear `reason`. */
  fail(shard: number, reason: unknown): void;
}

export class ShardLoop {
  private client: Redis | undefined;
  private clientId: number | undefined;
  private state: "idle" | "popping" | "blocked" | "sleeping" = "idle";
  private blockedVersion = -1;
  private unblocking = false;
  private polling = false;
  private rotation = 0;
  private wakeSleep: (() => void) | undefined;
  private putbacks: Array<[string, string, Buffer]> = [];
  /** The last BZPOPMIN got a member nobody was waiting for: the next call pops one for each lingering channel. */
  private sweep = false;
  private done: Promise<void> = Promise.resolve();
  /** Cancelled receives waiting for this loop to have nothing of theirs outside Redis (whenDrained()). */
  private drainers: Array<() => void> = [];

  /**
   * On a Redis Cluster, CLIENT UNBLOCK cannot be aimed at the node that holds
   * the loop's BZPOPMIN (the Cluster client picks nodes by key): the loop
   * also blocks on this key of its own slot, and a member added to it wakes it.
   */
  private readonly wakeKey: string | undefined;
  /** Since when the loop's calls fail for a cluster failover (it retries for connectionLostTimeout). */
  private failingSince: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly shard: Shard,
    private readonly receiver: LoopDemand,
  ) {
    if (shard.cluster) {
      this.wakeKey = `${shard.tag}channel-layers:wake:${randomBytes(8).toString("hex")}`;
    }
  }

  /** A member popped and not taken goes back to the head of `key` with its score, in the loop's next call. */
  putBack(key: string, score: string, member: Buffer): void {
    this.putbacks.push([key, score, member]);
    this.wake();
  }

  wake(): void {
    if (this.state === "idle") this.done = this.run();
    else if (this.state === "blocked") this.unblock();
    else if (this.state === "sleeping") this.wakeSleep?.();
  }

  /**
   * Resolves once the call in flight (if any) has returned and every member
   * it brought that nobody took is back in Redis.
   */
  whenDrained(): Promise<void> {
    if (this.state === "idle") return Promise.resolve();
    return new Promise((resolve) => this.drainers.push(resolve));
  }

  private releaseDrainers(): void {
    const drainers = this.drainers;
    this.drainers = [];
    for (const resolve of drainers) resolve();
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
      // Awaiting this (a settled promise after the first run) lets the receives made in the same run as the one that woke us join the first call.
      this.polling = !(await this.shard.full());
      for (let first = true; ; first = false) {
        // Yield a turn before each later call: consumers served by the last reply receive again first, so one
        // call serves them all (and, with read-ahead, they take their extras before those go back).
        if (!first) await new Promise((resolve) => setImmediate(resolve));
        const index = this.shard.index;
        const version = r.versionOf(index);
        const keys = r.closed ? [] : r.keysFor(index, this.sweep);
        this.sweep = false;
        const returning = this.putbacks.length > 0;
        if (!returning && this.drainers.length > 0) this.releaseDrainers();
        if (keys.length === 0 && !returning) break;
        const wanted = keys.filter(([, count]) => count > 0);
        if (!returning && !this.polling && keys.length === 1 && wanted.length === 1 && wanted[0]![1] === 1 && !r.isNewKey(index, keys[0]![0])) {
          // One receive on one key: BZPOPMIN pops at once when the key holds a member, else waits, in one round trip.
          await this.block(keys, version);
          continue;
        }
        if (wanted.length > 0 || returning) {
          const got = await this.pop(wanted);
          if (got > 0 || r.closed || r.versionOf(index) !== version || keys.length === 0) continue;
        }
        await this.block(keys, version);
      }
    } catch (err) {
      if (!this.retryLater(err)) r.fail(this.shard.index, this.shard.fail(err));
    } finally {
      this.state = "idle";
      this.releaseDrainers();
    }
  }

  /**
   * A cluster shard's slot lost its master: the replica taking over serves it
   * within seconds, so the loop tries again every 200 ms, and its receives
   * keep waiting, for up to connectionLostTimeout (a single server's client
   * waits out an outage the same way, in ioredis' own retries).
   */
  private retryLater(err: unknown): boolean {
    if (!this.shard.cluster || this.receiver.closed || !isConnectionError(err)) return false;
    this.failingSince ??= Date.now();
    if (Date.now() - this.failingSince >= this.shard.timeoutMs) {
      this.failingSince = undefined;
      return false;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.wake();
    }, 200);
    return true;
  }

  /**
   * One round trip on the loop's own connection: put-backs first, then pop
   * from each key. Expired members are dropped as they arrive (`accept`), so
   * no purge is needed first. Returns how many members were popped.
   */
  private async pop(keys: Array<[string, number]>): Promise<number> {
    const r = this.receiver;
    const client = this.connection() as ScriptedRedis;
    // On a cluster the pops of the ring's loops share the auto-pipelining client (Shard.hot): one write per master.
    const call = <T>(f: (c: ScriptedRedis) => Promise<T>): Promise<T> => (this.shard.cluster ? this.shard.hot(f) : f(client));
    const putbacks = this.putbacks;
    this.putbacks = [];
    const fresh = r.takeNewKeys(this.shard.index, keys);
    const ttl = keyTtlMs(r.config.expiry); // as the layer sets on queue keys
    let replies: Array<Array<Buffer | number>>;
    try {
      if (!this.polling && keys.length === 1 && putbacks.length === 0 && fresh.length === 0) {
        // The common case (one channel, nothing to put back) needs no script.
        replies = [await call((c) => c.zpopminBuffer(keys[0]![0], keys[0]![1]))];
      } else if (!this.polling) {
        const args: Array<string | number | Buffer> = [keys.length, putbacks.length, fresh.length, ttl];
        for (const [key] of keys) args.push(key);
        for (const [, count] of keys) args.push(count);
        for (const putback of putbacks) args.push(...putback);
        args.push(...fresh);
        replies = await call((c) => c.chlPopBuffer(keys[0]?.[0] ?? putbacks[0]![0], ...args));
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
    this.failingSince = undefined;
    let popped = 0;
    const cutoff = r.cutoff();
    keys.forEach(([key], i) => {
      const flat = replies[i]!;
      popped += flat.length >> 1;
      r.accept(this.shard.index, key, flat, cutoff);
    });
    return popped;
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
    if (!this.wakeKey) this.clientId ??= Number(await client.client("ID"));
    // Rotate the key order: BZPOPMIN serves the first non-empty key, and a busy one must not starve a quiet one.
    const start = this.rotation++ % keys.length;
    const order = [...keys.slice(start), ...keys.slice(0, start)].map(([k]) => k);
    if (this.wakeKey) order.push(this.wakeKey);
    if (this.receiver.versionOf(this.shard.index) !== version) return;
    this.state = "blocked";
    this.blockedVersion = version;
    let res: [Buffer, Buffer, Buffer] | null;
    try {
      res = await client.bzpopminBuffer(...order, this.receiver.config.blockTimeout);
    } finally {
      // Before accept: the receive it serves changes the watched keys, and a loop still "blocked" would send a CLIENT UNBLOCK for nothing.
      this.state = "popping";
    }
    this.failingSince = undefined;
    if (res && this.wakeKey !== undefined && res[0].toString() === this.wakeKey) return;
    if (res) this.sweep = this.receiver.accept(this.shard.index, res[0].toString(), [res[1], res[2]], this.receiver.cutoff());
  }

  /** Whether a blocked BZPOPMIN is worth cutting short: the keys it blocks on changed, a member must go back, or the layer closes. */
  private stale(): boolean {
    return this.receiver.closed || this.receiver.versionOf(this.shard.index) !== this.blockedVersion || this.putbacks.length > 0;
  }

  /**
   * Cut a stale BZPOPMIN short; retried until it lands, since it may reach
   * Redis before the BZPOPMIN does. A new receive on a key already blocked
   * on needs no cut: the BZPOPMIN serves one, and the loop pops the rest.
   */
  private unblock(): void {
    if (this.unblocking || !this.stale()) return;
    this.unblocking = true;
    void (async () => {
      try {
        if (this.wakeKey) {
          // Early or late, a wake member only costs the loop one more look.
          await this.shard.commands.pipeline().zadd(this.wakeKey, 0, "wake").pexpire(this.wakeKey, 60_000).exec();
          return;
        }
        while (this.state === "blocked" && this.stale()) {
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
    clearTimeout(this.retryTimer);
    this.wake();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.done, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    const client = this.client;
    this.client = undefined;
    if (client) client.disconnect();
  }
}
