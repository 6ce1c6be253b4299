/**
 * One shard's subscriber connection: the pub/sub channels this layer wants,
 * SUBSCRIBE/UNSUBSCRIBE for them, and what happens when the connection
 * drops. ioredis' own resubscription is off (autoResubscribe: false) so the
 * layer knows the moment every wanted channel is subscribed again, and only
 * then reports the gap (docs/semantics.md §5) — Python's layer finds out by polling.
 * Sharded (Redis 7's SSUBSCRIBE, docs/pubsub.md): the same, with the S commands.
 */
import type { Redis } from "ioredis";
import { release, type Shard } from "../connections.js";
import { keySlot } from "../sharding.js";

/** What a subscriber needs of its server: a connection, and how to word an outage. */
export type SubscriberLink = Pick<Shard, "connect" | "fail">;

export interface SubscriberEvents {
  /** A message published to a subscribed channel. */
  message(channel: string, data: Buffer): void;
  /** The connection is up and every wanted channel subscribed (first time: `restored` false). */
  up(restored: boolean): void;
  /** The connection dropped: messages published meanwhile are lost. */
  down(): void;
}

/** Channels subscribed in one command at most (resubscribing thousands at once). */
const CHUNK = 1000;

export class ShardSubscriber {
  private readonly client: Redis;
  /** Channels this layer wants subscribed; resubscribed after a reconnect. */
  private readonly wanted = new Set<string>();
  /** SUBSCRIBEs sent and not yet confirmed. */
  private readonly pending = new Map<string, Promise<void>>();
  private connected = false;
  private wasConnected = false;
  private closed = false;

  constructor(
    private readonly shard: SubscriberLink,
    private readonly events: SubscriberEvents,
    /** SSUBSCRIBE/SUNSUBSCRIBE (Redis ≥ 7's sharded pub/sub) instead of SUBSCRIBE/UNSUBSCRIBE. */
    private readonly sharded = false,
  ) {
    this.client = shard.connect();
    this.client.on(sharded ? "smessageBuffer" : "messageBuffer", (channel: Buffer, data: Buffer) => this.events.message(channel.toString("utf8"), data));
    this.client.on("ready", () => void this.onReady());
    this.client.on("close", () => this.onClose());
  }

  get isUp(): boolean {
    return this.connected;
  }

  /** Channels subscribed (or being subscribed) here. */
  get size(): number {
    return this.wanted.size;
  }

  /** A SUBSCRIBE of `channel` still on its way, if any (a send waits for it: see layer.ts). */
  subscribing(channel: string): Promise<void> | undefined {
    return this.pending.get(channel);
  }

  /** Resolves once Redis confirmed the subscription; rejects with ConnectionLostError after an outage. */
  subscribe(channel: string): Promise<void> {
    const pending = this.pending.get(channel);
    if (pending) return pending;
    if (this.wanted.has(channel) && this.connected) return Promise.resolve();
    this.wanted.add(channel);
    const done = this.send("subscribe", [channel]).then(
      () => {
        this.pending.delete(channel);
      },
      (err: unknown) => {
        this.pending.delete(channel);
        // Still wanted: a reconnect subscribes it again.
        throw this.shard.fail(err);
      },
    );
    this.pending.set(channel, done);
    return done;
  }

  unsubscribe(channel: string): void {
    if (!this.wanted.delete(channel)) return;
    // Nothing waits on this: a failed UNSUBSCRIBE is moot once the connection is gone.
    this.send("unsubscribe", [channel]).catch(() => {});
  }

  /** Subscribe many channels in commands of up to CHUNK (a cluster's channels moving to this node after a failover). */
  async subscribeMany(channels: string[]): Promise<void> {
    const fresh = channels.filter((c) => !this.wanted.has(c));
    for (const c of fresh) this.wanted.add(c);
    try {
      for (let i = 0; i < fresh.length; i += CHUNK) await this.send("subscribe", fresh.slice(i, i + CHUNK));
    } catch (err) {
      // Not subscribed: the caller tries again (a node just promoted may still redirect).
      for (const c of fresh) this.wanted.delete(c);
      throw this.shard.fail(err);
    }
  }

  private send(what: "subscribe" | "unsubscribe", channels: string[]): Promise<unknown> {
    if (!this.sharded) return what === "subscribe" ? this.client.subscribe(...channels) : this.client.unsubscribe(...channels);
    // One SSUBSCRIBE names channels of one slot only (a cluster refuses others): one command per slot, sent together.
    const perSlot = new Map<number, string[]>();
    for (const channel of channels) {
      const slot = keySlot(channel);
      const list = perSlot.get(slot);
      if (list) list.push(channel);
      else perSlot.set(slot, [channel]);
    }
    return Promise.all(
      [...perSlot.values()].map((list) => (what === "subscribe" ? this.client.ssubscribe(...list) : this.client.sunsubscribe(...list))),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await release(this.client);
  }

  private onClose(): void {
    if (!this.connected) return;
    this.connected = false;
    if (!this.closed) this.events.down();
  }

  private async onReady(): Promise<void> {
    const restored = this.wasConnected;
    this.wasConnected = true;
    if (restored && this.wanted.size > 0) {
      const names = [...this.wanted];
      try {
        for (let i = 0; i < names.length; i += CHUNK) await this.send("subscribe", names.slice(i, i + CHUNK));
      } catch {
        return; // dropped again: the next "ready" tries again
      }
    }
    if (this.closed || this.client.status !== "ready") return;
    this.connected = true;
    this.events.up(restored);
  }
}
