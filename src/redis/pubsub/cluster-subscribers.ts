/**
 * Sharded pub/sub on a Redis Cluster (docs/pubsub.md, "Sharded pub/sub"): a
 * channel is SSUBSCRIBEd on the master that serves its slot, over one
 * subscriber connection per master. Every second the layer looks at the
 * slot table its command client keeps (refreshed by ioredis every second and
 * on every redirect): channels whose slot has another master now (a failover,
 * a resharding) are subscribed there, in batches, and a connection left with
 * no channel is closed. Seen from the layer it is one subscriber: "down" when
 * any connection drops, "up" with a gap once every channel is subscribed on a
 * live master again.
 */
import type { RedisOptions } from "ioredis";
import { loadIoredis } from "../../dependencies/load-on-use.js";
import { mapError } from "../connections.js";
import { keySlot } from "../sharding.js";
import { ShardSubscriber, type SubscriberEvents } from "./subscriber.js";

/** Milliseconds between looks at the slot table. */
const REBALANCE_MS = 1000;

export class ClusterSubscribers {
  /** One subscriber per master ("host:port"). */
  private readonly nodes = new Map<string, ShardSubscriber>();
  /** Each subscribed channel's master. */
  private readonly owner = new Map<string, string>();
  private readonly timer: NodeJS.Timeout;
  /** A connection dropped since the last "up": the next one reports a gap. */
  private droppedSinceUp = false;
  private ready = false;
  private moving: Promise<void> = Promise.resolve();
  private closed = false;
  /** Resolves once the slot table is known. */
  private readonly known: Promise<unknown>;
  /** Subscriptions asked for before the slot table was known. */
  private readonly early = new Map<string, Promise<void>>();
  /** Channels are being moved to another master, or failed to: not up until they are subscribed there. */
  private unplaced = false;

  constructor(
    /** The slot table of the command client: `slots[slot][0]` is the master's "host:port". */
    private readonly slots: () => string[][],
    /** Resolves once the command client knows the cluster (its slot table is filled). */
    ready: Promise<unknown>,
    private readonly options: RedisOptions,
    private readonly timeoutMs: number,
    private readonly events: SubscriberEvents,
  ) {
    this.known = ready;
    void ready.then(
      () => {
        this.ready = true;
        this.maybeUp(false);
      },
      () => {},
    );
    this.timer = setInterval(() => void this.rebalance(), REBALANCE_MS);
    this.timer.unref();
  }

  get isUp(): boolean {
    return this.ready && !this.unplaced && [...this.nodes.values()].every((s) => s.isUp);
  }

  get size(): number {
    return this.owner.size;
  }

  subscribing(channel: string): Promise<void> | undefined {
    const early = this.early.get(channel);
    if (early) return early;
    const node = this.owner.get(channel);
    return node === undefined ? undefined : this.nodes.get(node)?.subscribing(channel);
  }

  subscribe(channel: string): Promise<void> {
    if (!this.ready) {
      const early = this.early.get(channel) ?? this.whenKnown().then(() => (this.early.delete(channel) ? this.subscribeNow(channel) : undefined));
      this.early.set(channel, early);
      return early;
    }
    return this.subscribeNow(channel);
  }

  /** The slot table, or ConnectionLostError once connectionLostTimeout passed without it. */
  private whenKnown(): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(mapError(new Error("Connection is closed."), "Redis Cluster", this.timeoutMs)), this.timeoutMs);
    });
    return Promise.race([this.known, late]).finally(() => clearTimeout(timer));
  }

  private subscribeNow(channel: string): Promise<void> {
    const node = this.owner.get(channel) ?? this.masterOf(channel);
    if (node === undefined) return Promise.reject(mapError(new Error("Connection is closed."), "Redis Cluster (no slot table yet)", this.timeoutMs));
    this.owner.set(channel, node);
    return this.subscriber(node).subscribe(channel);
  }

  unsubscribe(channel: string): void {
    this.early.delete(channel);
    const node = this.owner.get(channel);
    if (node === undefined) return;
    this.owner.delete(channel);
    this.nodes.get(node)?.unsubscribe(channel);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all([...this.nodes.values()].map((s) => s.close()));
    this.nodes.clear();
  }

  private masterOf(channel: string): string | undefined {
    return this.slots()[keySlot(channel)]?.[0];
  }

  private subscriber(node: string): ShardSubscriber {
    let subscriber = this.nodes.get(node);
    if (subscriber) return subscriber;
    const colon = node.lastIndexOf(":");
    const target: RedisOptions = { ...this.options, host: node.slice(0, colon), port: Number(node.slice(colon + 1)), autoResubscribe: false };
    const where = `Redis Cluster node ${node}`;
    subscriber = new ShardSubscriber(
      {
        connect: () => {
          const client = new (loadIoredis().Redis)(target);
          client.on("error", () => {});
          return client;
        },
        fail: (err) => mapError(err, where, this.timeoutMs),
      },
      {
        message: (channel, data) => this.events.message(channel, data),
        up: (restored) => {
          this.droppedSinceUp ||= restored;
          this.maybeUp(false);
        },
        down: () => {
          this.droppedSinceUp = true;
          this.events.down();
        },
      },
      true,
    );
    this.nodes.set(node, subscriber);
    return subscriber;
  }

  private maybeUp(restored: boolean): void {
    if (this.closed || !this.isUp) return;
    const gap = restored || this.droppedSinceUp;
    this.droppedSinceUp = false;
    this.events.up(gap);
  }

  /** Move channels whose slot changed master, in batches; drop subscribers left with none. */
  private rebalance(): Promise<void> {
    this.moving = this.moving.then(async () => {
      if (this.closed) return;
      const moves = new Map<string, string[]>();
      for (const [channel, node] of this.owner) {
        const now = this.masterOf(channel);
        if (now === undefined || now === node) continue;
        this.nodes.get(node)?.unsubscribe(channel);
        this.owner.set(channel, now);
        const list = moves.get(now);
        if (list) list.push(channel);
        else moves.set(now, [channel]);
      }
      const used = new Set(this.owner.values());
      used.delete("");
      for (const [node, subscriber] of this.nodes) {
        if (used.has(node)) continue;
        this.nodes.delete(node);
        void subscriber.close();
      }
      if (moves.size === 0) {
        if (this.droppedSinceUp) this.maybeUp(false);
        return;
      }
      this.droppedSinceUp = true; // channels moved: what was published to them meanwhile is gone
      this.unplaced = true;
      const results = await Promise.allSettled([...moves].map(([node, channels]) => this.subscriber(node).subscribeMany(channels)));
      let failed = false;
      [...moves].forEach(([, channels], i) => {
        if (results[i]!.status === "fulfilled") return;
        failed = true;
        // Owned by no node: the next look moves them again.
        for (const channel of channels) if (this.owner.has(channel)) this.owner.set(channel, "");
      });
      if (failed) return;
      this.unplaced = false;
      this.maybeUp(true);
    });
    return this.moving;
  }
}
