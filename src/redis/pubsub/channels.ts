/**
 * What a pub/sub layer holds for the channels it listens on: a bounded,
 * expiring queue of messages that arrived with nobody waiting, the receives
 * waiting, and when the channel was last used. Redis keeps none of this
 * (PUBLISH stores nothing), so capacity, expiry, FIFO and "a cancelled
 * receive loses nothing" are kept here, on the receiving side.
 */
import { LayerClosedError } from "../../errors.js";
import type { Message } from "../../layer.js";
import { NotAMessage } from "../../client/not-a-message.js";
import { PendingReceive } from "../../client/pending-receive.js";
import { RingQueue } from "../../engine/queue.js";
import { WaiterList } from "../../engine/waiters.js";

export class LocalChannel {
  /** Messages nobody was waiting for, with their deadlines (ms, performance.now). */
  readonly queue = new RingQueue<Message | NotAMessage>();
  readonly waiters = new WaiterList<Message, PendingReceive<Message>>();
  /** Groups (their pub/sub channel names) this channel is a member of here. */
  readonly groups = new Set<string>();
  /** Last newChannel, receive or delivery (ms, performance.now): a channel idle for the expiry is released. */
  lastUsed = performance.now();
  /** Made by this layer's newChannel: kept subscribed across a flush (its name is still in use). */
  owned = false;

  constructor(readonly capacity: number) {}

  /** Whether nothing keeps this channel: no waiting receive, no message, no membership. */
  get idle(): boolean {
    return this.waiters.size === 0 && this.queue.size === 0 && this.groups.size === 0;
  }
}

/** What became of a message that arrived for a channel. */
export type Arrival = "delivered" | "queued" | "full";

export class LocalChannels {
  private readonly channels = new Map<string, LocalChannel>();
  /** Messages dropped unread because they outlived the expiry. */
  expired = 0;

  constructor(
    /** Milliseconds a message may wait in a queue; a normal channel idle this long is released. */
    private readonly expiryMs: number,
    private readonly capacityOf: (channel: string) => number,
  ) {}

  get(name: string): LocalChannel | undefined {
    return this.channels.get(name);
  }

  /** The channel, made if new. */
  open(name: string): LocalChannel {
    let channel = this.channels.get(name);
    if (!channel) this.channels.set(name, (channel = new LocalChannel(this.capacityOf(name))));
    return channel;
  }

  delete(name: string): void {
    this.channels.delete(name);
  }

  entries(): IterableIterator<[string, LocalChannel]> {
    return this.channels.entries();
  }

  get size(): number {
    return this.channels.size;
  }

  /** Drop what outlived the expiry from one channel; true when its head had expired (it stopped reading). */
  dropExpired(channel: LocalChannel, now = performance.now()): boolean {
    const n = channel.queue.dropExpired(now);
    this.expired += n;
    return n > 0;
  }

  /** Hand `message` to the longest-waiting receive (one that is no message fails it), else queue it unless the channel is full. */
  arrive(channel: LocalChannel, message: Message | NotAMessage, now = performance.now()): Arrival {
    channel.lastUsed = now;
    const waiter = channel.waiters.shift();
    if (waiter) {
      if (message instanceof NotAMessage) waiter.fail(message.error());
      else waiter.deliver(message);
      return "delivered";
    }
    this.dropExpired(channel, now);
    if (channel.queue.size >= channel.capacity) return "full";
    channel.queue.push(message, now + this.expiryMs, 0);
    return "queued";
  }

  /** The next message of `channel`, waiting for one when none is queued. */
  take(channel: LocalChannel, signal: AbortSignal | undefined): Promise<Message> {
    const now = performance.now();
    channel.lastUsed = now;
    this.dropExpired(channel, now);
    const message = channel.queue.shift();
    if (message instanceof NotAMessage) return Promise.reject(message.error());
    if (message !== undefined) return Promise.resolve(message);
    return PendingReceive.wait<Message>(signal, (pending) =>
      channel.waiters.push(pending, () => {
        channel.lastUsed = performance.now();
      }),
    );
  }

  /** Empty every queue; waiting receives keep waiting. */
  clearQueues(): void {
    for (const channel of this.channels.values()) channel.queue.clear();
  }

  /** End every waiting receive with LayerClosedError and forget everything. */
  close(): void {
    for (const channel of this.channels.values()) {
      for (let w = channel.waiters.shift(); w; w = channel.waiters.shift()) w.fail(new LayerClosedError());
    }
    this.channels.clear();
  }
}
