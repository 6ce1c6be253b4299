/**
 * Members of normal channels popped and not (yet) handed to a receive. By
 * default only those of a receive cancelled while its pop was on its way,
 * which the loop puts back at once. With readAheadOutsideRedis, prefetch: a
 * pop takes as many members as there are waiting receives plus the channel's
 * level. The extra members wait here, per
 * shard, for receives this process makes in the same turn (a consumer looping
 * on receive takes them without a round trip); the shard's loop puts whatever
 * is left back at the head of its queue, with its original score, at its next
 * call, but for one member of a lingering channel (receiver.ts), kept for its
 * consumer's next receive until the linger ends. A level doubles while its
 * extras are taken and falls back to 1 when more than one goes back unused,
 * so a consumer that awaits other work between receives costs a few members
 * popped and put back per call at most.
 */
import type { Message } from "../layer.js";
import { RingQueue } from "../engine/queue.js";

/** Most members a normal channel's receives may have popped ahead of them. */
const MAX_LEVEL = 64;

/** A member popped ahead, kept as it came so it can go back unchanged. */
export interface Extra {
  message: Message;
  key: string;
  member: Buffer;
  rawScore: string;
}

const MAX_LEVELS_KEPT = 10_000;

export class Prefetch {
  private readonly extras: Array<Map<string, RingQueue<Extra>>>;
  private readonly levels = new Map<string, number>();

  constructor(shards: number) {
    this.extras = Array.from({ length: shards }, () => new Map<string, RingQueue<Extra>>());
  }

  /** How many members to pop ahead for `channel`. */
  level(channel: string): number {
    return this.levels.get(channel) ?? 1;
  }

  keep(shard: number, channel: string, extra: Extra, score: number): void {
    const byChannel = this.extras[shard]!;
    let queue = byChannel.get(channel);
    if (!queue) byChannel.set(channel, (queue = new RingQueue<Extra>()));
    queue.push(extra, score);
  }

  /** A member popped ahead for `channel` and sent after `cutoff`, if any; raises the channel's level. */
  take(channel: string, cutoff: number): Message | undefined {
    for (const byChannel of this.extras) {
      const queue = byChannel.get(channel);
      if (!queue) continue;
      queue.dropExpired(cutoff);
      const extra = queue.shift();
      if (queue.size === 0) byChannel.delete(channel);
      if (extra) {
        // Levels are hints: forgetting them all now and then bounds the map for apps with endless channel names.
        if (this.levels.size >= MAX_LEVELS_KEPT) this.levels.clear();
        this.levels.set(channel, Math.min(MAX_LEVEL, 2 * this.level(channel)));
        return extra.message;
      }
    }
    return undefined;
  }

  /** Whether a member is held ahead for `channel`, on any shard. */
  holds(channel: string): boolean {
    for (const byChannel of this.extras) if (byChannel.has(channel)) return true;
    return false;
  }

  /** Members held ahead, over every shard. */
  get size(): number {
    let n = 0;
    for (const byChannel of this.extras) for (const queue of byChannel.values()) n += queue.size;
    return n;
  }

  /** Whether `shard` holds extras that go back: all of a channel's but one when `keepOne` says so, else all. */
  pending(shard: number, keepOne: (channel: string) => boolean): boolean {
    for (const [channel, queue] of this.extras[shard]!) if (queue.size > 1 || !keepOne(channel)) return true;
    return false;
  }

  /**
   * The unclaimed extras of `shard` that go back, as put-backs (key, score,
   * member), oldest first per channel: every extra, except the oldest of
   * each channel that `keepOne` keeps one for.
   */
  reclaim(shard: number, keepOne: (channel: string) => boolean): Array<[string, string, Buffer]> {
    const out: Array<[string, string, Buffer]> = [];
    const byChannel = this.extras[shard]!;
    for (const [channel, queue] of byChannel) {
      const keep = keepOne(channel) ? 1 : 0;
      if (queue.size <= keep) continue;
      // Back to the default level when its prefetch overshot; one member back (the one a linger held) says nothing.
      if (queue.size - keep > 1) this.levels.delete(channel);
      const kept = keep === 1 ? queue.shift() : undefined;
      for (let e = queue.shift(); e; e = queue.shift()) out.push([e.key, e.rawScore, e.member]);
      if (kept) queue.push(kept, Number(kept.rawScore));
      else byChannel.delete(channel);
    }
    return out;
  }

  /** Forget every extra without putting it back (flush emptied their channels). */
  clear(): void {
    for (const byChannel of this.extras) byChannel.clear();
  }
}
