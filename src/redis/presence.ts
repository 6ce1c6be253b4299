/**
 * Presence on Redis (docs/presence.md, docs/redis-wire.md "Presence keys"),
 * for both Redis layers. Entries live on their group's shard, each owned by
 * the layer instance that added it; an owner keeps a deadline on every shard
 * where it holds entries, moved on by a heartbeat. Whoever notices an end
 * (a discard, a clean close, any process's periodic sweep finding a deadline
 * past or a membership expired, a read) ends the entry with the one remover
 * of presence-scripts.ts and gets it back only if it was first, so each leave
 * is announced exactly once, through the layer's own group send (in order with
 * the group's other messages).
 */
import { isConnectionError, type Shard } from "./connections.js";
import { keyTtlMs } from "./ttl.js";
import { masters } from "./cluster.js";
import { presenceScripts, type PresenceRedis, type PresenceReply } from "./presence-scripts.js";
import { packr } from "../dependencies/msgpack.js";
import { positiveOption } from "../options/positive-option.js";
import { presenceEvent, presenceQuery, presenceRules } from "../options/presence.js";
import type { PatternRules } from "../options/patterns.js";
import type { Message, PresenceEntry, PresenceInfo, PresenceOptions, PresencePage, PresenceQuery } from "../layer.js";

/** Seconds a killed process's entries may outlive it when the option is not given (docs/presence.md). */
export const PRESENCE_TIMEOUT = 15;
/** Entries one script call ends at most: a sweep of a dead owner of 100k entries is many short calls, never one long one. */
const BUDGET = 1000;
/** Announcements kept for a retry while Redis cannot take them; past it the oldest is dropped and counted. */
const MAX_RETRIES = 10_000;

/** The presence options of a Redis layer, checked before it connects. */
export interface PresenceSettings {
  /** Which groups' members receive presence.join / presence.leave. */
  rules: PatternRules<boolean>;
  /** Seconds a process's entries outlive it when it dies without closing. */
  timeout: number;
}

export function presenceSettings(options: PresenceOptions & { presenceTimeout?: unknown }): PresenceSettings {
  const timeout = positiveOption(options.presenceTimeout, "presenceTimeout (s)", PRESENCE_TIMEOUT);
  if (timeout > 3600) throw new RangeError(`presenceTimeout (s) must be at most 3600, got ${timeout}`);
  return { rules: presenceRules(options), timeout };
}

/** What both Redis layers do to keep presence; a layer whose groups announce presence sweeps from the start. */
export function redisPresence(settings: PresenceSettings, hooks: Omit<RedisPresenceHooks, "announces" | "timeout">): RedisPresence {
  const { rules, timeout } = settings;
  const presence = new RedisPresence({ ...hooks, timeout, announces: (group) => rules.match(group) === true });
  // Its members hear leaves: it sweeps even if it never adds an entry, so that someone notices a death.
  if (rules.size > 0) presence.start();
  return presence;
}

export interface RedisPresenceHooks {
  readonly shards: readonly Shard[];
  shardOf(group: string): Shard;
  prefix: string;
  owner: string;
  /** Seconds a membership lasts (its entry with it). */
  groupExpiry: number;
  /** Seconds after its last heartbeat an owner counts as gone. */
  timeout: number;
  /** Memberships live in Redis, in channels_redis' group keys (the Redis layer); false: in the layer (pub/sub). */
  withGroups: boolean;
  /** Whether `group`'s members receive presence.join / presence.leave. */
  announces(group: string): boolean;
  /** Send an event to a group through the layer's own group send (checked there as a message). */
  groupSend(group: string, event: Message): Promise<void>;
  /** This owner's entries were ended while it lived (a stall past the timeout, a flush elsewhere, a Redis restart). */
  onLost(): void;
}

interface Announcement {
  type: "presence.join" | "presence.leave";
  group: string;
  channel: string;
  info: PresenceInfo;
}

/** Seconds since the epoch as a score, as channels_redis stores membership times. */
const seconds = (): string => (Date.now() / 1000).toFixed(6);

export class RedisPresence {
  /** Entries this owner added and has not seen end, per shard index: "group channel". */
  private readonly owned = new Map<number, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private readonly retries: Announcement[] = [];
  /** Entries of this owner whose end Redis did not take (pub/sub's leave(), which nobody awaits): retried by the sweep. */
  private readonly unended: Array<[group: string, channel: string]> = [];
  private readonly ttlMs: number;
  private closed = false;
  /** Announcements dropped: more than MAX_RETRIES waited for Redis, or the event could not be sent as a message. */
  dropped = 0;

  constructor(private readonly hooks: RedisPresenceHooks) {
    this.ttlMs = keyTtlMs(Math.max(hooks.groupExpiry, hooks.timeout));
  }

  private base(shard: Shard): string {
    return shard.tag + this.hooks.prefix;
  }

  private client(shard: Shard): PresenceRedis {
    return presenceScripts(shard.commands);
  }

  private ownersKey(shard: Shard): string {
    return `${this.base(shard)}:presence:owners`;
  }

  /** Start sweeping (and beating): on first use, or at once for a layer whose groups announce presence. */
  start(): void {
    if (this.timer !== undefined || this.closed) return;
    const period = (this.hooks.timeout * 1000) / 3;
    const tick = (): void => {
      // Spread over the period so that many processes do not sweep in step.
      this.timer = setTimeout(() => {
        this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined));
        tick();
      }, period * (0.75 + Math.random() * 0.25));
      this.timer.unref();
    };
    tick();
  }

  private call(shard: Shard, run: (client: PresenceRedis) => Promise<PresenceReply>): Promise<PresenceReply> {
    return run(this.client(shard)).catch((err: unknown) => {
      throw shard.fail(err);
    });
  }

  /** Whether `group`'s members receive presence events. */
  announces(group: string): boolean {
    return this.hooks.announces(group);
  }

  /**
   * Add or renew `channel`'s entry in `group`; announces its join (and the
   * leave of an expired one it replaces). Resolves to whether a join was announced.
   */
  async add(group: string, channel: string, info: PresenceInfo): Promise<boolean> {
    this.start();
    const shard = this.hooks.shardOf(group);
    const { owner, groupExpiry, timeout, withGroups } = this.hooks;
    const now = Date.now();
    const [ended, isNew] = await this.call(shard, (c) =>
      c.chlPresenceAddBuffer(
        this.ownersKey(shard),
        this.base(shard),
        this.ttlMs,
        group,
        channel,
        seconds(),
        owner,
        now + timeout * 1000,
        now,
        packr.pack(info),
        withGroups ? "1" : "0",
        (now / 1000 - groupExpiry).toFixed(6),
      ),
    );
    this.ownedOn(shard).add(`${group} ${channel}`);
    await this.announceEnded(shard, ended);
    if (isNew !== 1 || !this.hooks.announces(group)) return false;
    await this.announce({ type: "presence.join", group, channel, info });
    return true;
  }

  private ownedOn(shard: Shard): Set<string> {
    let set = this.owned.get(shard.index);
    if (set === undefined) this.owned.set(shard.index, (set = new Set()));
    return set;
  }

  /** Whether this owner holds `channel`'s entry in `group` (as far as it knows). */
  owns(group: string, channel: string): boolean {
    return this.owned.get(this.hooks.shardOf(group).index)?.has(`${group} ${channel}`) ?? false;
  }

  /**
   * End `channel`'s entry in `group` and announce its leave. With
   * `withGroups`, this is the whole groupDiscard: the membership goes in the
   * same call. `ownOnly`: only an entry this owner made (pub/sub, where
   * another layer's membership of the same channel keeps its own entry).
   * Resolves to whether a leave was announced.
   */
  async end(group: string, channel: string, ownOnly: boolean): Promise<boolean> {
    const shard = this.hooks.shardOf(group);
    this.owned.get(shard.index)?.delete(`${group} ${channel}`);
    const [ended] = await this.call(shard, (c) =>
      c.chlPresenceEndBuffer(this.ownersKey(shard), this.base(shard), this.ttlMs, group, channel, ownOnly ? this.hooks.owner : "", this.hooks.withGroups ? "1" : "0"),
    );
    await this.announceEnded(shard, ended);
    return ended.length > 0 && this.hooks.announces(group);
  }

  /**
   * End an entry of this owner whose membership ended in the layer
   * (pub/sub): a failed end is retried by the sweep. The promise is for a
   * caller that waits (a discard); nobody else need handle its rejection.
   */
  endOwn(group: string, channel: string): Promise<boolean> {
    const done = this.end(group, channel, true).catch((err: unknown) => {
      if (!this.closed) this.unended.push([group, channel]);
      throw err;
    });
    done.catch(() => {});
    return done;
  }

  /** A membership with an entry of this owner renewed without presence: its keys live as long as it does. */
  async renew(group: string): Promise<void> {
    const shard = this.hooks.shardOf(group);
    await this.call(shard, (c) => c.chlPresenceRenewBuffer(this.ownersKey(shard), this.base(shard), this.ttlMs, group));
  }

  /** A sweep's call on `shard` that reads `group` when given; repeated while the reap has more to end. */
  private async read(shard: Shard, group: string, mode: "count" | "page", after: number, limit: number): Promise<number | [Buffer[], Buffer]> {
    for (;;) {
      const now = Date.now();
      const [ended, result] = await this.call(shard, (c) =>
        c.chlPresenceReadBuffer(
          this.ownersKey(shard),
          this.base(shard),
          this.ttlMs,
          now,
          (now / 1000 - this.hooks.groupExpiry).toFixed(6),
          BUDGET,
          this.hooks.withGroups ? "1" : "0",
          group,
          mode,
          after,
          limit,
        ),
      );
      await this.announceEnded(shard, ended);
      if (result !== -1) return result;
    }
  }

  async count(group: string): Promise<number> {
    this.start();
    return (await this.read(this.hooks.shardOf(group), group, "count", -1, 0)) as number;
  }

  async page(group: string, query: PresenceQuery | undefined): Promise<PresencePage> {
    const { limit, after } = presenceQuery(query);
    this.start();
    const [rows, cursor] = (await this.read(this.hooks.shardOf(group), group, "page", after, limit)) as [Buffer[], Buffer];
    const entries: PresenceEntry[] = [];
    for (let i = 0; i < rows.length; i += 3) {
      entries.push({ channel: rows[i]!.toString(), since: Number(rows[i + 1]!.toString()), info: packr.unpack(rows[i + 2]!) as PresenceInfo });
    }
    const next = cursor.length > 0 ? cursor.toString() : undefined;
    return next === undefined ? { entries } : { entries, next };
  }

  /** Announce the leave of every entry a call ended (flat group, channel, info), in the order it ended them. */
  private async announceEnded(shard: Shard, ended: Buffer[]): Promise<void> {
    const owned = this.owned.get(shard.index);
    for (let i = 0; i < ended.length; i += 3) {
      const group = ended[i]!.toString();
      const channel = ended[i + 1]!.toString();
      owned?.delete(`${group} ${channel}`);
      let info: PresenceInfo;
      try {
        info = packr.unpack(ended[i + 2]!) as PresenceInfo;
      } catch {
        // Bytes no layer of ours wrote: the entry is gone all the same, and the others' leaves still go out.
        this.dropped++;
        continue;
      }
      await this.announce({ type: "presence.leave", group, channel, info });
    }
  }

  /**
   * Send an event where its group wants it. A send Redis could not take is
   * kept and retried by the sweep (the caller's call rejects meanwhile), so
   * an entry that ended is announced once Redis is back.
   */
  private async announce(a: Announcement): Promise<void> {
    if (!this.hooks.announces(a.group)) return;
    try {
      await this.hooks.groupSend(a.group, presenceEvent(a.type, a.group, a.channel, a.info));
    } catch (err) {
      if (!isConnectionError(err) && !(err instanceof Error && err.name === "ConnectionLostError")) {
        this.dropped++; // no message (info stored by a layer with a larger maxMessageBytes): it can never be sent
        return;
      }
      if (this.retries.length >= MAX_RETRIES) {
        this.retries.shift();
        this.dropped++;
      }
      this.retries.push(a);
      throw err;
    }
  }

  /** One sweep: retries, heartbeats of the shards this owner holds entries on, and a reap of every shard. */
  private async sweep(): Promise<void> {
    try {
      while (this.unended.length > 0 && !this.closed) {
        const [group, channel] = this.unended[0]!;
        await this.end(group, channel, true);
        this.unended.shift();
      }
      while (this.retries.length > 0 && !this.closed) {
        const a = this.retries[0]!;
        await this.hooks.groupSend(a.group, presenceEvent(a.type, a.group, a.channel, a.info));
        this.retries.shift();
      }
      const now = Date.now();
      await Promise.all(
        [...this.owned].map(async ([index, entries]) => {
          if (entries.size === 0) return;
          const shard = this.hooks.shards[index]!;
          const [, known] = await this.call(shard, (c) =>
            c.chlPresenceBeatBuffer(this.ownersKey(shard), this.base(shard), this.ttlMs, this.hooks.owner, now + this.hooks.timeout * 1000),
          );
          if (known === 0 && entries.size > 0) {
            // Reaped while alive (stalled past the timeout) or flushed by another process: the app must re-announce.
            entries.clear();
            this.hooks.onLost();
          }
        }),
      );
      for (const shard of this.hooks.shards) if (!this.closed) await this.read(shard, "", "count", -1, 0);
    } catch {
      // Redis unreachable: the layer's state says so; the next sweep tries again.
    }
  }

  /** A clean close: every entry of this owner ends now, each leave announced; then the timers stop. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.sweeping;
    await Promise.all(
      [...this.owned].map(async ([index, entries]) => {
        if (entries.size === 0) return;
        const shard = this.hooks.shards[index]!;
        for (;;) {
          const [ended, more] = await this.call(shard, (c) => c.chlPresenceEndOwnerBuffer(this.ownersKey(shard), this.base(shard), this.ttlMs, this.hooks.owner, BUDGET));
          await this.announceEnded(shard, ended).catch(() => {});
          if (more === 0) break;
        }
      }),
    ).catch(() => {
      // Redis unreachable at close: the entries end within the timeout, ended by another process's sweep.
    });
    this.owned.clear();
  }

  /** Everything under the prefix was deleted (a flush): nothing is owned any more, and nothing is announced. */
  onFlush(): void {
    this.owned.clear();
    this.retries.length = 0;
    this.unended.length = 0;
  }

  /** Delete every presence key under the prefix (pub/sub's flush; the Redis layer's deletes the whole prefix). */
  async flush(): Promise<void> {
    this.onFlush();
    const pattern = (tag: string): string => (tag + this.hooks.prefix).replace(/[*?[\]\\]/g, "\\$&") + ":presence:*";
    await Promise.all(
      this.hooks.shards.map(async (shard) => {
        const nodes = shard.cluster ? masters(shard.commands) : [shard.commands];
        try {
          for (const node of nodes) {
            let cursor = "0";
            do {
              const [next, keys] = await node.scan(cursor, "MATCH", pattern(shard.tag), "COUNT", 1000);
              cursor = next;
              // One UNLINK per key on a cluster: keys of several slots cannot share a command.
              if (keys.length > 0) await Promise.all(shard.cluster ? keys.map((k) => shard.commands.unlink(k)) : [shard.commands.unlink(...keys)]);
            } while (cursor !== "0");
          }
        } catch (err) {
          throw shard.fail(err);
        }
      }),
    );
  }
}
