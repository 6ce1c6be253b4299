/**
 * One shard's subscriber connection: the pub/sub channels this layer wants,
 * SUBSCRIBE/UNSUBSCRIBE for them, and what happens when the connection
 * drops. ioredis' own resubscription is off (autoResubscribe: false) so the
 * layer knows the moment every wanted channel is subscribed again, and only
 * then reports the gap (docs/semantics.md §5) — Python's layer finds out by polling.
 */
import type { Redis } from "ioredis";
import { release, type Shard } from "../connections.js";

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
    private readonly shard: Shard,
    private readonly events: SubscriberEvents,
  ) {
    this.client = shard.connect();
    this.client.on("messageBuffer", (channel: Buffer, data: Buffer) => this.events.message(channel.toString("utf8"), data));
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
    const done = this.client.subscribe(channel).then(
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
    this.client.unsubscribe(channel).catch(() => {});
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
        for (let i = 0; i < names.length; i += CHUNK) await this.client.subscribe(...names.slice(i, i + CHUNK));
      } catch {
        return; // dropped again: the next "ready" tries again
      }
    }
    if (this.closed || this.client.status !== "ready") return;
    this.connected = true;
    this.events.up(restored);
  }
}
