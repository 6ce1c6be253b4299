/**
 * Messages popped from a process key for local channels nobody is receiving
 * from yet. Python keeps an unbounded-per-channel dict of these that is never
 * swept; ours are bounded by the channel's capacity (the oldest is dropped,
 * as channels_redis' BoundedQueue does, and counted: `droppedOverflow` in the
 * layer's stats, so the loss is never silent) and expire exactly like
 * messages in Redis, and a sweep drops channels that only hold expired messages.
 */
import type { Message } from "../layer.js";
import { RingQueue } from "../engine/queue.js";
import type { NotAMessage } from "../client/not-a-message.js";

export class LocalBuffers {
  private readonly queues = new Map<string, RingQueue<Message | NotAMessage>>();
  /** Messages dropped because their channel's buffer was at capacity. */
  dropped = 0;

  get channels(): number {
    return this.queues.size;
  }

  names(): IterableIterator<string> {
    return this.queues.keys();
  }

  /** Messages held, over every channel (walks them: for stats, not hot paths). */
  get messages(): number {
    let n = 0;
    for (const queue of this.queues.values()) n += queue.size;
    return n;
  }

  /** Keep `message` (sent at `score`, seconds) for `channel`, dropping its oldest when at `capacity`. */
  push(channel: string, message: Message | NotAMessage, score: number, capacity: number): void {
    let queue = this.queues.get(channel);
    if (!queue) this.queues.set(channel, (queue = new RingQueue<Message | NotAMessage>()));
    if (queue.size >= capacity) {
      queue.shift();
      this.dropped++;
    }
    queue.push(message, score);
  }

  /** The oldest message of `channel` sent after `cutoff` (seconds), expired ones dropped. */
  take(channel: string, cutoff: number): Message | NotAMessage | undefined {
    const queue = this.queues.get(channel);
    if (!queue) return undefined;
    queue.dropExpired(cutoff);
    const message = queue.shift();
    if (queue.size === 0) this.queues.delete(channel);
    return message;
  }

  /** Put a message back at the head (its receive was cancelled after it was handed over). */
  unshift(channel: string, message: Message, score: number): void {
    let queue = this.queues.get(channel);
    if (!queue) this.queues.set(channel, (queue = new RingQueue<Message | NotAMessage>()));
    queue.unshift(message, score);
  }

  /** Drop every message sent at or before `cutoff`, and the channels left empty. */
  sweep(cutoff: number): void {
    for (const [channel, queue] of this.queues) {
      queue.dropExpired(cutoff);
      if (queue.size === 0) this.queues.delete(channel);
    }
  }

  clear(): void {
    this.queues.clear();
  }
}
