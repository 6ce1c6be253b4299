/**
 * RedisPubSubChannelLayer: channels and groups over Redis PUBLISH/SUBSCRIBE,
 * on the wire exactly as channels_redis' RedisPubSubChannelLayer: a message
 * is PUBLISHed as plain msgpack to the channel's own name, a group's messages
 * to `{prefix}__group__{group}`, each on the shard that crc32 of that name
 * picks. Pub/sub stores nothing, so what the contract can still keep is kept
 * by the receiving layer (channels.ts); what it cannot is in docs/pubsub.md.
 */
import { BaseLayer } from "../../base.js";
import { InvalidMessageError, LayerClosedError } from "../../errors.js";
import type { Extension, GroupHistory, HistoryPosition, Message, MessageValue, PresenceInfo, PresencePage, PresenceQuery } from "../../layer.js";
import { noHistory } from "../../options/history.js";
import { assertHistoryScripts, readHistory, recordHistory, stamp, type HistoryKeys } from "../history.js";
import { cloneMessage } from "../../message.js";
import { assertChannelName, assertOwnChannel } from "../../names.js";
import { NotAMessage } from "../../client/not-a-message.js";
import type { LayerStats } from "../../stats.js";
import { commonRedisOptions, type CommonRedisOptions } from "../common-options.js";
import { describeHost, Shard, unavailableError } from "../connections.js";
import { Serializer } from "../serializer.js";
import { consistentHash } from "../sharding.js";
import { LocalChannels, type LocalChannel } from "./channels.js";
import { ShardSubscriber } from "./subscriber.js";
import { ClusterSubscribers } from "./cluster-subscribers.js";
import { clusterShards, masters } from "../cluster.js";
import type { Cluster } from "ioredis";
import { redisPresence, type RedisPresence } from "../presence.js";

export interface RedisPubSubLayerOptions extends CommonRedisOptions {
  /** Starts group channel names (`{prefix}__group__{group}`) and newChannel names. Default `"asgi"`. */
  prefix?: string;
  /**
   * Fernet secrets, newest first (channels_redis 4.2+'s pubsub
   * `symmetric_encryption_keys`; Debian's 4.0 pubsub layer cannot read them).
   */
  symmetricEncryptionKeys?: Array<string | Uint8Array>;
  /**
   * Redis ≥ 7's sharded pub/sub (SPUBLISH/SSUBSCRIBE, docs/pubsub.md): a
   * message goes to the master of its channel's slot only, not to every
   * node. Needed with `cluster`. Default false: Python's layer uses PUBLISH,
   * and a sharded subscriber hears no PUBLISH.
   */
  sharded?: boolean;
}

/**
 * The key a group message carries the channels it leaves out under (docs/pubsub.md,
 * "Sending to a group except some members"); reserved in messages sent through this layer.
 */
const EXCEPT_KEY = "__asgi_except__";

/** Milliseconds a membership change waits to hear its own presence event before it is made anyway (a lost subscription). */
const HEAR_MS = 2000;

const reservedExcept = (): InvalidMessageError =>
  new InvalidMessageError(`message.${EXCEPT_KEY} is reserved for groupSend's except on Redis pub/sub`);

/** The channels a received group message leaves out, removed from it; undefined when it names none. */
function takeExcept(message: Message): ReadonlySet<MessageValue> | undefined {
  const except = message[EXCEPT_KEY];
  if (except === undefined) return undefined;
  delete message[EXCEPT_KEY];
  return Array.isArray(except) ? new Set(except) : undefined;
}

export class RedisPubSubChannelLayer extends BaseLayer {
  readonly extensions: readonly Extension[] = ["groups", "flush"];
  protected override readonly wideInts = true;
  readonly prefix: string;
  private readonly shards: Shard[];
  private readonly subscribers: Array<ShardSubscriber | ClusterSubscribers>;
  private readonly sharded: boolean;
  private readonly serializer: Serializer;
  private readonly local: LocalChannels;
  /** Group channel name → member channel → when it was added (ms, performance.now). */
  private readonly groups = new Map<string, Map<string, number>>();
  private readonly groupExpiryMs: number;
  private readonly expiryMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly counters = {
    sent: 0,
    received: 0,
    groupSends: 0,
    groupDelivered: 0,
    groupSkippedFull: 0,
    droppedOverflow: 0,
    membershipsExpired: 0,
  };
  /**
   * Published bodies too large (dropped unread), or holding no message
   * (garbage, a wrong key, no `type`…: each receive that gets one fails with
   * InvalidMessageError).
   */
  droppedMessages = 0;
  private readonly timeoutMs: number;
  /** Runs while a shard is down (from the start, or since a drop): at connectionLostTimeout the layer is "failed". */
  private downTimer: NodeJS.Timeout | undefined;
  protected override readonly keepsPresence = true;
  /** Presence entries in Redis (../presence.ts): the memberships are this layer's, the entries are shared. */
  private readonly presenceStore: RedisPresence;

  constructor(options: RedisPubSubLayerOptions = {}) {
    super(options, "connecting");
    const { prefix, timeout, targets, factory, clientOptions, cluster, presence } = commonRedisOptions(options, "Redis pub/sub");
    const sharded = options.sharded ?? false;
    if (typeof sharded !== "boolean") throw new TypeError(`sharded must be true or false, got ${String(sharded)}`);
    if (cluster && !sharded) {
      throw new TypeError("Redis pub/sub on a cluster needs sharded: true (a PUBLISH would reach every node of the cluster)");
    }
    this.sharded = sharded;
    this.prefix = prefix;
    // No random prefix and no token lifetime: the pubsub layer's serializer has neither.
    this.serializer = new Serializer(options.symmetricEncryptionKeys, Infinity, 0);
    this.expiryMs = this.config.expiry * 1000;
    this.groupExpiryMs = this.config.groupExpiry * 1000;
    this.local = new LocalChannels(this.expiryMs, (channel) => this.config.capacity.capacityOf(channel));
    this.timeoutMs = timeout;
    const events = {
      message: (channel: string, data: Buffer) => this.onPublished(channel, data),
      up: (restored: boolean) => this.shardUp(restored),
      down: () => {
        this.setState("reconnecting");
        this.startDownTimer();
      },
    };
    if (cluster) {
      // One command client for the whole cluster, whose slot table says where each channel's subscriber goes.
      const shard = clusterShards({ ...cluster, slots: 1 }, options.redisOptions ?? {}, timeout, 1000)[0]!;
      const client = shard.commands as unknown as Cluster;
      const known = new Promise((resolve) => client.once("ready", resolve));
      this.shards = [shard];
      this.subscribers = [new ClusterSubscribers(() => client.slots, known, options.redisOptions ?? {}, timeout, events)];
    } else {
      // Messages name the server by the URL the user wrote: redis+pubsub://, not the redis:// ioredis is given.
      const where = (t: (typeof targets)[number]): string => describeHost(t).replace(/^(rediss?):/, "$1+pubsub:");
      this.shards = targets.map((t, i) => new Shard(i, t, factory, { ...clientOptions, autoResubscribe: false }, timeout, where(t)));
      this.subscribers = this.shards.map((shard) => new ShardSubscriber(shard, events, sharded));
    }
    for (const shard of this.shards) {
      // After the shard's own listener, which decides whether the error is fatal (a database the server does not have).
      shard.commands.on("error", () => {
        if (shard.fatal !== undefined && !this.closed) this.setState("failed");
      });
    }
    this.presenceStore = redisPresence(presence, {
      shards: this.shards,
      shardOf: (group) => this.shards[this.shardOf(this.groupChannel(group))]!,
      prefix,
      owner: this.instanceId,
      groupExpiry: this.config.groupExpiry,
      withGroups: false,
      groupSend: (group, event) => this.doGroupSend(group, this.prepare(event), undefined, undefined),
      onLost: () => this.reportGap("grace-expired"),
    });
    this.startDownTimer();
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(20, this.expiryMs / 4)));
    this.sweeper.unref();
  }

  /** The shard index channels_redis picks for a channel or group channel name. */
  shardOf(name: string): number {
    return consistentHash(name, this.shards.length);
  }

  /** The pub/sub channel a group's messages go to. */
  groupChannel(group: string): string {
    return `${this.prefix}__group__${group}`;
  }

  /** Python names them `{prefix}{"specific."}{uuid hex}`; ours keep the contract's `.{instance}!{id}` inside the same shape. */
  override newChannel(prefix = "specific"): Promise<string> {
    return super.newChannel(this.prefix + prefix).then(async (name) => {
      const channel = this.local.open(name);
      channel.owned = true;
      const subscriber = this.subscribers[this.shardOf(name)]!;
      try {
        await subscriber.subscribe(name);
      } catch (err) {
        // Nobody will ever hold this name: forget it rather than keep it subscribed for groupExpiry.
        this.local.delete(name);
        subscriber.unsubscribe(name);
        throw err;
      }
      return name;
    });
  }

  /** A shard lost its connection since the last gap was reported. */
  private gapPending = false;

  private startDownTimer(): void {
    this.downTimer ??= setTimeout(() => {
      this.downTimer = undefined;
      if (!this.closed && !this.subscribers.every((s) => s.isUp)) this.setState("failed");
    }, this.timeoutMs);
    this.downTimer.unref();
  }

  protected override unavailable(): Error {
    if (this.closed) return new LayerClosedError();
    return unavailableError(
      this.shards,
      this.shards.filter((s) => !this.subscribers[s.index]!.isUp),
      this.timeoutMs,
    );
  }

  private shardUp(restored: boolean): void {
    this.gapPending ||= restored;
    if (!this.subscribers.every((s) => s.isUp)) return;
    clearTimeout(this.downTimer);
    this.downTimer = undefined;
    this.setState("ready");
    if (this.gapPending) {
      this.gapPending = false;
      this.reportGap("redis-restarted");
    }
  }

  private publish(name: string, message: Message): Promise<void> {
    const index = this.shardOf(name);
    const shard = this.shards[index]!;
    const data = this.serializer.encode(message);
    const publish = (): Promise<void> =>
      (this.sharded ? shard.commands.spublish(name, data) : shard.commands.publish(name, data)).then(
        () => undefined,
        (err: unknown) => {
          throw shard.fail(err);
        },
      );
    // A receive this layer started before this send subscribes first: its own send must reach it.
    const subscribing = this.subscribers[index]!.subscribing(name);
    return subscribing ? subscribing.then(publish, publish) : publish();
  }

  protected doSend(channel: string, message: Message): Promise<void> {
    if (EXCEPT_KEY in message) return Promise.reject(reservedExcept());
    this.counters.sent++;
    return this.publish(channel, message);
  }

  protected async doGroupSend(group: string, message: Message, _priority: number | undefined, except: ReadonlySet<string> | undefined): Promise<void> {
    if (EXCEPT_KEY in message) throw reservedExcept();
    this.counters.groupSends++;
    const name = this.groupChannel(group);
    const rule = this.config.groupHistory.ruleOf(group);
    if (rule !== undefined) {
      // Recorded before it is published: a member that joined (subscribed) before the record hears it, one that joins after finds it in the history.
      const shard = await this.historyShard(name);
      try {
        const recorded = await recordHistory(shard.commands, this.historyKeys(name), rule, this.serializer.encode(message), except);
        message = stamp(message, recorded.position);
      } catch (err) {
        throw shard.fail(err);
      }
    }
    // Members live in the layers that receive, so the names to leave out travel with the message; without them it is the bytes Python sends.
    return this.publish(name, except === undefined ? message : { ...message, [EXCEPT_KEY]: [...except] });
  }

  /** A group's history keys (docs/redis-wire.md): hash-tagged with its channel's name, so on a cluster they are in the slot its messages are published to. */
  private historyKeys(name: string): HistoryKeys {
    return { stream: `{${name}}:history`, epoch: `{${name}}:history-epoch` };
  }

  /** The shard of a group channel, once it is known to run the history scripts (a real Redis, not ioredis-mock). */
  private async historyShard(name: string): Promise<Shard> {
    const shard = this.shards[this.shardOf(name)]!;
    await assertHistoryScripts(shard);
    return shard;
  }

  protected override async doGroupHistory(group: string, since: HistoryPosition | undefined, limit: number, channel: string | undefined): Promise<GroupHistory> {
    const rule = this.config.groupHistory.ruleOf(group);
    if (rule === undefined) throw noHistory(group);
    const name = this.groupChannel(group);
    const shard = await this.historyShard(name);
    try {
      return await readHistory(shard.commands, this.historyKeys(name), rule, this.serializer, since, limit, channel);
    } catch (err) {
      throw shard.fail(err);
    }
  }

  /**
   * Start listening on a normal channel now: messages published to it from
   * when this resolves are kept (within capacity and expiry) for its
   * receives. Without it a normal channel is listened on from its first
   * receive or groupAdd, as in channels_redis; pub/sub keeps nothing for a
   * channel before that. Released like any channel once idle for the expiry.
   */
  async listen(channel: string): Promise<void> {
    if (this.closed) throw new LayerClosedError();
    assertChannelName(channel);
    assertOwnChannel(channel, this.instanceId, "listen on it");
    const { channel: local, subscribed } = this.listenOn(channel);
    local.lastUsed = performance.now();
    await subscribed;
  }

  /** Listen on `name` (normal channels: from their first receive or groupAdd on, as Python does). */
  private listenOn(name: string): { channel: LocalChannel; subscribed: Promise<void> } {
    const channel = this.local.open(name);
    return { channel, subscribed: this.subscribers[this.shardOf(name)]!.subscribe(name) };
  }

  protected doReceive(channel: string, signal: AbortSignal | undefined): Promise<Message> {
    const { channel: local, subscribed } = this.listenOn(channel);
    // A failed SUBSCRIBE stays wanted and is retried on reconnect; the receive keeps waiting (state says why).
    subscribed.catch(() => {});
    return this.local.take(local, signal).then((message) => {
      this.counters.received++;
      return message;
    });
  }

  protected async doGroupAdd(group: string, channel: string, presence?: PresenceInfo): Promise<void> {
    assertOwnChannel(
      channel,
      this.instanceId,
      "add it to a group on Redis pub/sub, where a membership lives in the layer that receives: " +
        "call groupAdd on the layer that made the channel",
    );
    const name = this.groupChannel(group);
    const { channel: local, subscribed } = this.listenOn(channel);
    const join = (): void => {
      let members = this.groups.get(name);
      if (!members) this.groups.set(name, (members = new Map<string, number>()));
      members.set(channel, performance.now());
      local.groups.add(name);
    };
    // A new member of a group that announces presence becomes one where its join is in the group's stream (hear()).
    const ordered = presence !== undefined && !(this.groups.get(name)?.has(channel) ?? false) && this.presenceStore.announces(group);
    if (!ordered) join();
    await Promise.all([subscribed, this.subscribers[this.shardOf(name)]!.subscribe(name)]);
    if (presence === undefined) {
      if (this.presenceStore.owns(group, channel)) await this.presenceStore.renew(group);
      return;
    }
    if (!ordered) {
      await this.presenceStore.add(group, channel, presence);
      return;
    }
    const { heard, settle } = this.hear(`presence.join ${name} ${channel}`, join);
    try {
      if (await this.presenceStore.add(group, channel, presence)) await heard;
      else settle();
    } catch (err) {
      settle();
      throw err;
    }
  }

  protected async doGroupDiscard(group: string, channel: string): Promise<void> {
    const name = this.groupChannel(group);
    if (!(this.groups.get(name)?.has(channel) && this.presenceStore.owns(group, channel) && this.presenceStore.announces(group))) {
      await this.leave(name, channel);
      return;
    }
    // The member stops being one where its leave is in the group's stream: it gets what was sent before, not its leave.
    const { heard, settle } = this.hear(`presence.leave ${name} ${channel}`, () => void this.leave(name, channel));
    try {
      if (await this.presenceStore.end(group, channel, true)) await heard;
      else settle();
    } catch (err) {
      settle();
      throw err;
    }
  }

  /**
   * Membership changes waiting for their presence event to come back from
   * Redis. A PUBLISH reaches this layer some time after it was made, so a
   * membership changed at once would get group messages sent before a join, or
   * miss some sent before a leave; changed as its own event arrives, it is in
   * the order Redis gave every message of the group (docs/presence.md).
   */
  private readonly awaiting = new Map<string, () => void>();

  /** Apply `change` when this layer hears the event `key` ("type group-channel channel"), or after HEAR_MS without it. */
  private hear(key: string, change: () => void): { heard: Promise<void>; settle: () => void } {
    let settle!: () => void;
    const heard = new Promise<void>((resolve) => {
      const timer = setTimeout(() => settle(), HEAR_MS);
      timer.unref();
      settle = (): void => {
        if (this.awaiting.get(key) !== settle) return;
        this.awaiting.delete(key);
        clearTimeout(timer);
        change();
        resolve();
      };
    });
    this.awaiting.set(key, settle);
    return { heard, settle };
  }

  /**
   * The membership ends here, however; its presence entry with it: the
   * promise of that end, which only a discard waits for (the store retries
   * a failed end itself).
   */
  private leave(name: string, channel: string): Promise<unknown> | undefined {
    const members = this.groups.get(name);
    if (!members?.delete(channel)) return undefined;
    this.local.get(channel)?.groups.delete(name);
    if (members.size === 0) {
      this.groups.delete(name);
      this.subscribers[this.shardOf(name)]!.unsubscribe(name);
    }
    const group = name.slice(this.groupChannel("").length);
    return this.presenceStore.owns(group, channel) ? this.presenceStore.endOwn(group, channel) : undefined;
  }

  /** A published message: to the channel's queue or waiting receive, or to every local member of a group. */
  private onPublished(name: string, data: Buffer): void {
    if (this.closed) return;
    const channel = this.local.get(name);
    if (!channel && !this.groups.has(name) && this.awaiting.size === 0) return; // unsubscribed a moment ago
    if (data.length > this.config.maxMessageBytes) {
      this.droppedMessages++;
      return;
    }
    // A body that is no message takes a message's place: the receive that gets it fails (src/client/not-a-message.ts).
    const message = this.serializer.decode(data);
    if (message instanceof NotAMessage) this.droppedMessages++;
    if (channel) {
      if (this.local.arrive(channel, message) === "full") this.counters.droppedOverflow++;
      return;
    }
    if (this.awaiting.size > 0 && !(message instanceof NotAMessage) && message.type.startsWith("presence.")) {
      this.awaiting.get(`${message.type} ${name} ${String(message.channel)}`)?.();
    }
    const members = this.groups.get(name);
    if (!members) return;
    const except = message instanceof NotAMessage ? undefined : takeExcept(message);
    const now = performance.now();
    let first = true;
    for (const [member, added] of members) {
      if (except?.has(member)) continue;
      const local = this.local.get(member);
      if (!local || now - added >= this.groupExpiryMs) {
        this.counters.membershipsExpired++;
        void this.leave(name, member);
        continue;
      }
      // A member that let a message expire unread has stopped reading: it leaves (docs/semantics.md §4.5).
      if (this.local.dropExpired(local, now)) {
        void this.leave(name, member);
        continue;
      }
      const copy = first || message instanceof NotAMessage ? message : cloneMessage(message);
      first = false;
      if (this.local.arrive(local, copy, now) === "full") this.counters.groupSkippedFull++;
      else this.counters.groupDelivered++;
    }
  }

  /**
   * Expire queued messages and memberships; stop listening on channels idle
   * (no waiting receive, nothing queued, no membership) for the expiry, so
   * short-lived channels (a request()'s reply channel, a consumer gone)
   * cost no subscription for ever. A message published to a channel after
   * that is not heard; a receive on it listens again.
   */
  private sweep(): void {
    const now = performance.now();
    for (const [name, members] of this.groups) {
      for (const [member, added] of members) {
        if (now - added >= this.groupExpiryMs) {
          this.counters.membershipsExpired++;
          void this.leave(name, member);
        }
      }
    }
    for (const [name, channel] of this.local.entries()) {
      // A channel that let a message expire unread has stopped reading: it leaves its groups (docs/semantics.md §4.5).
      if (this.local.dropExpired(channel, now)) for (const group of [...channel.groups]) void this.leave(group, name);
      if (channel.idle && now - channel.lastUsed >= this.expiryMs) {
        this.local.delete(name);
        this.subscribers[this.shardOf(name)]!.unsubscribe(name);
      }
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
    return this.readPresence(group, () => this.presenceStore.page(group, query));
  }

  /** How many presence entries `group` has (entries live in Redis, shared by every layer on the prefix). */
  presenceCount(group: string): Promise<number> {
    return this.readPresence(group, () => this.presenceStore.count(group));
  }

  async stats(): Promise<LayerStats> {
    if (this.closed) throw new LayerClosedError();
    let messages = 0;
    let waiting = 0;
    let members = 0;
    for (const [, channel] of this.local.entries()) {
      messages += channel.queue.size;
      waiting += channel.waiters.size;
    }
    for (const group of this.groups.values()) members += group.size;
    return {
      backend: "redis-pubsub",
      scope: "process",
      channels: this.local.size,
      messages,
      waitingReceivers: waiting,
      groups: this.groups.size,
      members,
      counters: { ...this.counters, expired: this.local.expired },
      requests: this.requester.stats(),
    };
  }

  protected async doFlush(): Promise<void> {
    // First: the memberships below end without a leave (a flush ends the groups too).
    await this.presenceStore.flush();
    if (this.config.groupHistory.any) await this.dropHistory();
    for (const name of [...this.groups.keys()]) {
      for (const member of [...this.groups.get(name)!.keys()]) void this.leave(name, member);
    }
    this.local.clearQueues();
    // A receive waiting across a flush keeps waiting (docs/semantics.md §4.8), and a ! channel's owner still holds
    // its name: those stay subscribed, emptied.
    for (const [name, channel] of this.local.entries()) {
      if (channel.waiters.size > 0 || channel.owned) continue;
      this.local.delete(name);
      this.subscribers[this.shardOf(name)]!.unsubscribe(name);
    }
  }

  /** Delete every group history under this layer's prefix (flush: their next sends start new epochs). */
  private async dropHistory(): Promise<void> {
    const pattern = "{" + this.groupChannel("").replace(/[*?[\]\\]/g, "\\$&") + "*}:history*";
    await Promise.all(
      this.shards.map(async (shard) => {
        // A cluster's keys are on every master; one UNLINK per key, as a cluster refuses several slots in one command.
        const nodes = shard.cluster ? masters(shard.commands) : [shard.commands];
        try {
          for (const node of nodes) {
            let cursor = "0";
            do {
              const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
              cursor = next;
              await Promise.all(keys.map((k) => shard.commands.unlink(k)));
            } while (cursor !== "0");
          }
        } catch (err) {
          throw shard.fail(err);
        }
      }),
    );
  }

  protected async doClose(): Promise<void> {
    for (const settle of [...this.awaiting.values()]) settle();
    await this.presenceStore.close();
    clearInterval(this.sweeper);
    clearTimeout(this.downTimer);
    await Promise.all([...this.subscribers.map((s) => s.close()), ...this.shards.map((s) => s.release())]);
    // Last, as the other layers do: the caller holding a pending receive sees it fail once close() is done.
    this.local.close();
  }
}
