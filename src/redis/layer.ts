/**
 * RedisChannelLayer: channels and groups in Redis, laid out exactly as
 * Python's channels_redis lays them out (docs/redis-wire.md), so Django and Node
 * processes share one Redis. Sends made in one tick share one Lua call
 * (sends.ts), a group send on one server is one call, and receives are
 * batched per shard by the receive loop (receiver.ts, shard-loop.ts).
 */
import type { Redis } from "ioredis";
import { BaseLayer } from "../base.js";
import { ChannelFullError, LayerClosedError } from "../errors.js";
import type { Extension, GroupHistory, HistoryPosition, Message, PresenceInfo, PresencePage, PresenceQuery } from "../layer.js";
import type { LayerStats } from "../stats.js";
import { RESERVED_KEY } from "../message.js";
import { isProcessLocal, nonLocalName } from "../names.js";
import { delayOption, positiveOption, positiveOrOff } from "../options/positive-option.js";
import { commonRedisOptions, type CommonRedisOptions } from "./common-options.js";
import { clusterShards, masters } from "./cluster.js";
import { Shard } from "./connections.js";
import { Receiver } from "./receiver.js";
import { SendBatcher } from "./sends.js";
import { score } from "./scripts.js";
import { RANDOM_PREFIX_LENGTH, Serializer } from "./serializer.js";
import { consistentHash } from "./sharding.js";
import { keyTtlMs } from "./ttl.js";
import { RedisWatch } from "./watch.js";
import { RedisReplyCache } from "./reply-cache.js";
import { redisPresence, type RedisPresence } from "./presence.js";
import { assertHistoryScripts, readHistory, recordHistory, stamp, type HistoryKeys } from "./history.js";
import { noHistory, type HistoryRule } from "../options/history.js";
import type { ReplyCache } from "../request/cache.js";

export interface RedisLayerOptions extends CommonRedisOptions {
  /** Fernet secrets, newest first: the first encrypts, all decrypt (channels_redis' `symmetric_encryption_keys`). */
  symmetricEncryptionKeys?: Array<string | Uint8Array>;
  /** Random bytes before each member. Default 12; channels_redis reads only 12. */
  randomPrefixLength?: number;
  /** Seconds a blocking receive waits before looking again. Default 1. */
  blockTimeout?: number;
  /** Milliseconds between polls on a client without BZPOPMIN (ioredis-mock). Default 10. */
  pollInterval?: number;
  /**
   * Faster receives that bend docs/semantics.md §4.10 (docs/redis.md, "Read-ahead"): pop
   * members before receives ask for them and hold them in this process, where
   * senders do not count them against capacity (a channel may hold capacity
   * plus what is held here), a second consumer may get a later message first,
   * and a process that dies loses them. Default false: a pop takes only as
   * many members as receives are waiting for.
   */
  readAheadOutsideRedis?: boolean;
  /**
   * With `readAheadOutsideRedis` only: milliseconds a normal channel stays
   * watched after a receive on it was served, so the next message comes
   * straight from the loop's standing BZPOPMIN; a member popped for nobody
   * waits here at most this long. Default 10 with `readAheadOutsideRedis`, else 0.
   */
  receiveLinger?: number;
}

/** Unix time in seconds with sub-millisecond precision (docs/redis-wire.md, "Keys": ties would reorder bursts). */
const now = (): number => (performance.timeOrigin + performance.now()) / 1000;

export class RedisChannelLayer extends BaseLayer {
  readonly extensions: readonly Extension[] = ["groups", "flush"];
  protected override readonly wideInts = true;
  readonly prefix: string;
  private readonly shards: Shard[];
  private readonly serializer: Serializer;
  private readonly receiver: Receiver;
  private sendIndex = 0;
  private sent = 0;
  private groupSends = 0;
  /** The last stamp, in microseconds since the epoch. */
  private lastStamp = 0;
  private readonly senders: SendBatcher[];
  /**
   * Group sends take one call (GROUP_SEND_LOCAL) when everything is on one
   * server, members need no encryption and every channel has the same capacity.
   */
  private readonly oneCallGroupSend: boolean;
  /**
   * On a Redis Cluster a normal channel lives on the shard its name hashes to,
   * as a process key does, instead of every shard in turn: no Python peer
   * shares a cluster, and one key per channel keeps receives to one shard.
   */
  private readonly onCluster: boolean;
  /** Connection state, and the memberships this layer made, to restore on a Redis that lost them. */
  private readonly watch: RedisWatch;
  protected override readonly keepsPresence = true;
  /** Presence entries in Redis (presence.ts), ended by whoever notices. */
  private readonly presenceStore: RedisPresence;

  constructor(options: RedisLayerOptions = {}) {
    super(options, "connecting");
    // Everything that can refuse the options runs before the first connection is made.
    const { prefix, timeout, targets, factory, clientOptions, cluster, presence } = commonRedisOptions(options, "Redis");
    this.prefix = prefix;
    const prefixLength = positiveOption(options.randomPrefixLength, "randomPrefixLength", RANDOM_PREFIX_LENGTH, true);
    const blockTimeout = positiveOption(options.blockTimeout, "blockTimeout (s)", 1);
    const pollInterval = delayOption(options.pollInterval, "pollInterval (ms)", 10);
    const readAhead = options.readAheadOutsideRedis ?? false;
    if (typeof readAhead !== "boolean") throw new TypeError(`readAheadOutsideRedis must be true or false, got ${String(readAhead)}`);
    const linger = positiveOrOff(options.receiveLinger, "receiveLinger (ms)", readAhead ? 10 : 0);
    if (linger > 0 && !readAhead) {
      throw new TypeError(
        "receiveLinger holds popped messages outside Redis, where senders do not count them: " +
          "it needs readAheadOutsideRedis: true (docs/redis.md, \"Read-ahead\")",
      );
    }
    this.serializer = new Serializer(options.symmetricEncryptionKeys, this.config.expiry + 10, prefixLength);
    this.shards = cluster
      ? clusterShards(cluster, options.redisOptions ?? {}, timeout)
      : targets.map((t, i) => new Shard(i, t, factory, clientOptions, timeout));
    this.onCluster = cluster !== undefined;
    this.senders = this.shards.map((shard) => new SendBatcher(shard, this.config.expiry, this.ttlMs));
    const channelCapacity = options.channelCapacity;
    const uniformCapacity = channelCapacity === undefined || (Array.isArray(channelCapacity) ? channelCapacity.length === 0 : Object.keys(channelCapacity).length === 0);
    this.oneCallGroupSend = this.shards.length === 1 && !this.serializer.encrypted && uniformCapacity;
    this.watch = new RedisWatch(this.shards, this.instanceId, this.config.groupExpiry * 1000, timeout, {
      setState: (state) => this.setState(state),
      gap: (reason) => this.reportGap(reason),
      shardOf: (group) => this.groupShard(group),
      restore: (shard, group, channel, leftMs) =>
        shard.commands.chlGroupAdd(this.groupKey(group), channel, score(now() - this.config.groupExpiry + leftMs / 1000), keyTtlMs(this.config.groupExpiry)),
    });
    this.presenceStore = redisPresence(presence, {
      shards: this.shards,
      shardOf: (group) => this.groupShard(group),
      prefix,
      owner: this.instanceId,
      groupExpiry: this.config.groupExpiry,
      withGroups: true,
      groupSend: (group, event) => this.doGroupSend(group, this.prepare(event), undefined, undefined),
      onLost: () => this.reportGap("grace-expired"),
    });
    this.receiver = new Receiver({
      prefix,
      shards: this.shards,
      serializer: this.serializer,
      expiry: this.config.expiry,
      capacityOf: (channel) => this.config.capacity.capacityOf(channel),
      now,
      blockTimeout,
      pollInterval,
      readAhead,
      linger,
      placeByName: this.onCluster,
    });
  }

  /** Cached replies live in Redis, shared by every Node process on it (docs/request.md). */
  protected override makeReplyCache(): ReplyCache {
    return new RedisReplyCache(this.prefix, this.shards, this.serializer);
  }

  /**
   * What this process knows (scope "process"): its local buffers, its waiting
   * receives and its own counters. Channels and groups live in Redis, shared
   * with other processes, so their totals are not counted here.
   */
  async stats(): Promise<LayerStats> {
    if (this.closed) throw new LayerClosedError();
    return {
      backend: "redis",
      scope: "process",
      ...this.receiver.counts(),
      counters: { sent: this.sent, received: this.receiver.received, groupSends: this.groupSends, droppedOverflow: this.receiver.buffers.dropped },
      requests: this.requester.stats(),
    };
  }

  protected override unavailable(): Error {
    return this.closed ? new LayerClosedError() : this.watch.unavailable();
  }

  /** Members dropped at receive because they could not be decoded (wrong key, garbage). */
  get droppedMembers(): number {
    return this.receiver.dropped;
  }

  /** TTL of a queue key (ttl.ts says why it is longer than the expiry). */
  private get ttlMs(): number {
    return keyTtlMs(this.config.expiry);
  }

  private capacityArg(channel: string): number {
    const capacity = this.config.capacity.capacityOf(channel);
    return capacity === Infinity ? -1 : capacity;
  }

  protected async doSend(channel: string, message: Message): Promise<void> {
    const local = isProcessLocal(channel);
    const target = nonLocalName(channel);
    // Python hashes the full name of a ! channel here (an upstream bug); the non-local name is what receivers watch.
    const shard = this.shards[local || this.onCluster ? consistentHash(target, this.shards.length) : this.nextSendShard()]!;
    const member = this.serializer.encode(local ? { ...message, [RESERVED_KEY]: channel } : message);
    const stored = await this.senders[shard.index]!.send(shard.tag + this.prefix + target, member, this.stamp(), this.capacityArg(channel));
    if (!stored) throw new ChannelFullError(channel, this.config.capacity.capacityOf(channel));
    this.sent++;
  }

  /**
   * A score for a message sent now: strictly increasing in this layer at the
   * microsecond the score carries, so a burst keeps its order in the sorted set.
   * Counted in whole microseconds: seconds plus 1e-6 in floating point could
   * round to the same six decimals as the score before it.
   */
  private stamp(): number {
    const us = Math.max(Math.round(now() * 1e6), this.lastStamp + 1);
    this.lastStamp = us;
    return us / 1e6;
  }

  private nextSendShard(): number {
    const i = this.sendIndex;
    this.sendIndex = (i + 1) % this.shards.length;
    return i;
  }

  protected doReceive(channel: string, signal: AbortSignal | undefined): Promise<Message> {
    return this.receiver.receive(channel, signal);
  }

  private groupShard(group: string): Shard {
    return this.shards[consistentHash(group, this.shards.length)]!;
  }

  private groupKey(group: string): string {
    return `${this.groupShard(group).tag}${this.prefix}:group:${group}`;
  }

  protected async doGroupAdd(group: string, channel: string, presence?: PresenceInfo): Promise<void> {
    const shard = this.groupShard(group);
    const at = this.watch.memberships.added(group, channel);
    try {
      if (presence !== undefined) {
        await this.presenceShard(shard);
        await this.presenceStore.add(group, channel, presence);
        return;
      }
      await shard.commands.chlGroupAdd(this.groupKey(group), channel, score(now()), keyTtlMs(this.config.groupExpiry));
    } catch (err) {
      this.watch.memberships.failed(group, channel, at);
      throw shard.fail(err);
    }
    if (this.presenceStore.owns(group, channel)) await this.presenceStore.renew(group);
  }

  /** Presence runs scripts ioredis-mock cannot (nested replies): said at once rather than half done. */
  private async presenceShard(shard: Shard): Promise<void> {
    if (!(await shard.full())) throw new TypeError("presence on Redis needs a real Redis server (its scripts return nested replies, which ioredis-mock cannot)");
  }

  protected async doGroupDiscard(group: string, channel: string): Promise<void> {
    const shard = this.groupShard(group);
    this.watch.memberships.discarded(group, channel);
    try {
      // On a real Redis the membership and its presence entry go in one call, the entry's leave announced after.
      if (await shard.full()) await this.presenceStore.end(group, channel, false);
      else await shard.commands.zrem(this.groupKey(group), channel);
    } catch (err) {
      throw shard.fail(err);
    }
  }

  /**
   * Presence events this layer could not send (docs/presence.md "When a process dies"): an entry whose info no
   * longer decodes or exceeds maxMessageBytes, or more than 10,000 waiting for Redis to come back.
   */
  get droppedPresenceEvents(): number {
    return this.presenceStore.dropped;
  }

  /** A page of `group`'s presence entries, oldest first (docs/presence.md). */
  presence(group: string, query?: PresenceQuery): Promise<PresencePage> {
    return this.readPresence(group, async () => {
      await this.presenceShard(this.groupShard(group));
      return this.presenceStore.page(group, query);
    });
  }

  /** How many presence entries `group` has: one call, O(1) but for ending what has ended since the last sweep. */
  presenceCount(group: string): Promise<number> {
    return this.readPresence(group, async () => {
      await this.presenceShard(this.groupShard(group));
      return this.presenceStore.count(group);
    });
  }

  protected async doGroupSend(group: string, message: Message, _priority: number | undefined, except: ReadonlySet<string> | undefined): Promise<void> {
    await this.writeGroupSend(group, message, except);
    this.groupSends++; // counted once done: a send that failed was not made
  }

  private async writeGroupSend(group: string, message: Message, except: ReadonlySet<string> | undefined): Promise<void> {
    const gshard = this.groupShard(group);
    const gkey = this.groupKey(group);
    const rule = this.config.groupHistory.ruleOf(group);
    let oneCall: boolean;
    try {
      if (rule !== undefined) await assertHistoryScripts(gshard);
      // The one-call script reads the members inside Redis; `except` and history take the two halves.
      oneCall = rule === undefined && except === undefined && this.oneCallGroupSend && (await gshard.full());
    } catch (err) {
      throw gshard.fail(err);
    }
    if (oneCall) {
      const t = this.stamp();
      try {
        await gshard.commands.chlGroupSendLocal(
          gkey,
          gkey,
          score(t - this.config.groupExpiry),
          score(t),
          score(t - this.config.expiry),
          this.ttlMs,
          this.capacityArg(""),
          this.prefix,
          this.serializer.randomPrefix(),
          this.serializer.encodeHead(message),
        );
      } catch (err) {
        throw gshard.fail(err);
      }
      return;
    }
    let members: string[];
    const cutoff = score(now() - this.config.groupExpiry);
    try {
      if (rule === undefined) members = await gshard.commands.chlGroupMembers(gkey, cutoff);
      else {
        // Recorded in the call that lists the members: one joined before it gets the message live, one joined after finds it in the history.
        const recorded = await recordHistory(gshard.commands, this.historyKeys(group), rule, this.serializer.encode(message), except, { key: gkey, cutoff });
        members = recorded.members;
        message = stamp(message, recorded.position);
      }
    } catch (err) {
      throw gshard.fail(err);
    }
    if (except !== undefined) members = members.filter((channel) => !except.has(channel));
    if (members.length === 0) return;
    // One member per queue key, naming every channel behind it (docs/redis-wire.md, "Member bytes").
    const bundles = new Map<string, { shard: number; channels: string[] }>();
    for (const channel of members) {
      const target = nonLocalName(channel);
      const key = this.prefix + target;
      const bundle = bundles.get(key);
      if (bundle) bundle.channels.push(channel);
      else bundles.set(key, { shard: consistentHash(target, this.shards.length), channels: [channel] });
    }
    const perShard = new Map<number, string[]>();
    for (const [key, bundle] of bundles) {
      const keys = perShard.get(bundle.shard);
      if (keys) keys.push(key);
      else perShard.set(bundle.shard, [key]);
    }
    const tagged = (index: number, key: string): string => this.shards[index]!.tag + key;
    const t = this.stamp();
    const stale: string[] = [];
    await Promise.all(
      [...perShard].map(async ([index, keys]) => {
        const shard = this.shards[index]!;
        const payloads = keys.map((k) => this.serializer.encode({ ...message, [RESERVED_KEY]: bundles.get(k)!.channels }));
        // Capacity of a shared key is that of the first channel behind it, as in channels_redis.
        const capacities = keys.map((k) => this.capacityArg(bundles.get(k)!.channels[0]!));
        let status: string;
        try {
          const physical = keys.map((k) => tagged(index, k));
          status = await shard.hot((client) => client.chlGroupSend(physical[0]!, keys.length, ...physical, score(t), score(t - this.config.expiry), this.ttlMs, ...payloads, ...capacities));
        } catch (err) {
          throw shard.fail(err);
        }
        for (let i = 0; i < keys.length; i++) {
          if (status[i] === "2") stale.push(...bundles.get(keys[i]!)!.channels);
        }
      }),
    );
    if (stale.length > 0) {
      // A member whose queue let a message expire unread has stopped reading: it leaves the group (docs/semantics.md §4.5).
      try {
        await gshard.commands.zrem(gkey, ...stale);
      } catch (err) {
        throw gshard.fail(err);
      }
    }
  }

  /** The group's history keys, beside its group key (same server, same cluster slot). */
  private historyKeys(group: string): HistoryKeys {
    const base = `${this.groupShard(group).tag}${this.prefix}:history`;
    return { stream: `${base}:${group}`, epoch: `${base}-epoch:${group}` };
  }

  protected override async doGroupHistory(group: string, since: HistoryPosition | undefined, limit: number, channel: string | undefined): Promise<GroupHistory> {
    const rule: HistoryRule | undefined = this.config.groupHistory.ruleOf(group);
    if (rule === undefined) throw noHistory(group);
    const shard = this.groupShard(group);
    try {
      await assertHistoryScripts(shard);
      return await readHistory(shard.commands, this.historyKeys(group), rule, this.serializer, since, limit, channel);
    } catch (err) {
      throw shard.fail(err);
    }
  }

  protected async doFlush(): Promise<void> {
    this.receiver.buffers.clear();
    this.receiver.dropAhead();
    this.watch.memberships.clear();
    this.presenceStore.onFlush();
    const pattern = this.prefix.replace(/[*?[\]\\]/g, "\\$&") + "*";
    if (this.onCluster) {
      // Every master holds some of the ring's slots: scan each for the ring's tags before the prefix.
      const shard = this.shards[0]!;
      const tags = new Set(this.shards.map((s) => s.tag));
      try {
        await Promise.all(
          masters(shard.commands).map((node) =>
            unlinkMatching(node, "{*}" + pattern, (keys) => {
              const ours = keys.filter((k) => tags.has(k.slice(0, k.indexOf("}") + 1)));
              // One UNLINK per key: a cluster refuses keys of several slots in one command.
              return Promise.all(ours.map((k) => shard.commands.unlink(k)));
            }),
          ),
        );
      } catch (err) {
        throw shard.fail(err);
      }
      return;
    }
    await Promise.all(
      this.shards.map(async (shard) => {
        try {
          await unlinkMatching(shard.commands, pattern, (keys) => shard.commands.unlink(...keys));
        } catch (err) {
          throw shard.fail(err);
        }
      }),
    );
  }

  protected async doClose(): Promise<void> {
    await this.presenceStore.close();
    await this.watch.close();
    await this.receiver.close(1000);
    await Promise.all(this.shards.map((s) => s.release()));
    this.receiver.rejectWaiting();
  }
}

/** SCAN `client` for keys matching `pattern` and hand each batch to `unlink`. */
async function unlinkMatching(client: Redis, pattern: string, unlink: (keys: string[]) => Promise<unknown>): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await unlink(keys);
  } while (cursor !== "0");
}
