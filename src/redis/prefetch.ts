/**
 * Prefetch for normal channels: a pop takes as many members as there are
 * waiting receives plus the channel's level. The extra members wait here, per
 * shard, for receives this process makes in the same turn (a consumer looping
 * on receive takes them without a round trip); the shard's loop puts whatever
 * is left back at the head of its queue, with its original score, at its next
 * call. A level doubles while its extras are taken and falls back to 1 when
 * they go back unused, so a consumer that awaits other work between receives
 * costs at most one member popped and put back per call.
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
    this.extras = Array.from({ length: shards }, () => new Map());
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

  /** Members held ahead, over every shard. */
  get size(): number {
    let n = 0;
    for (const byChannel of this.extras) for (const queue of byChannel.values()) n += queue.size;
    return n;
  }

  pending(shard: number): boolean {
    return this.extras[shard]!.size > 0;
  }

  /** Every unclaimed extra of `shard`, as put-backs (key, score, member), oldest first per channel. */
  reclaim(shard: number): Array<[string, string, Buffer]> {
    const out: Array<[string, string, Buffer]> = [];
    const byChannel = this.extras[shard]!;
    for (const [channel, queue] of byChannel) {
      this.levels.delete(channel); // back to the default level: they went unused
      for (let e = queue.shift(); e; e = queue.shift()) out.push([e.key, e.rawScore, e.member]);
    }
    byChannel.clear();
    return out;
  }

  /** Forget every extra without putting it back (flush emptied their channels). */
  clear(): void {
    for (const byChannel of this.extras) byChannel.clear();
  }
}
