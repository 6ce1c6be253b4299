/**
 * Presence (docs/presence.md): the entries some memberships carry, kept beside
 * the engine's groups. Synchronous and without timers like the engine; the
 * engine tells it when a membership ends, whatever ended it.
 *
 * Each group keeps its entries in the order they began, so a listing is read
 * in pages from a cursor (an entry's sequence number) with a binary search,
 * never by walking the whole group: a 100k-member group costs one page per call.
 */

/** One presence entry as stored: `I` is the info (a copy, or encoded bytes in a broker). */
export interface PresenceRecord<I> {
  readonly channel: string;
  info: I;
  /** When the entry began, in milliseconds since the epoch. */
  readonly since: number;
  /** Who made it (a broker's client instance), so that its entries go when it does. */
  owner: string | undefined;
  /** Grows by one per entry made by this table: the listing cursor. */
  readonly seq: number;
  /** Ended; still in `order` until the next compaction. */
  ended: boolean;
}

interface GroupPresence<I> {
  readonly byChannel: Map<string, PresenceRecord<I>>;
  /** Every entry by `seq`, with ended ones left in place until they are half of it. */
  order: PresenceRecord<I>[];
  endedCount: number;
}

export interface PresencePageOf<I> {
  entries: PresenceRecord<I>[];
  /** The cursor to pass for the next page; undefined when this page reached the end. */
  next: number | undefined;
}

export class PresenceTable<I> {
  private readonly groups = new Map<string, GroupPresence<I>>();
  private seq = 0;
  /** Entries of each owner: group → channels, for ending all of them when the owner goes. */
  private readonly owners = new Map<string, Map<string, Set<string>>>();
  private total = 0;

  /** Entries in every group. */
  get size(): number {
    return this.total;
  }

  /**
   * Begin or renew `channel`'s entry in `group`. A renewal keeps `since` and
   * takes the new info. Returns whether the entry is new (a join).
   */
  set(group: string, channel: string, info: I, owner: string | undefined, now: number): boolean {
    let gp = this.groups.get(group);
    if (gp === undefined) this.groups.set(group, (gp = { byChannel: new Map(), order: [], endedCount: 0 }));
    const existing = gp.byChannel.get(channel);
    if (existing !== undefined) {
      existing.info = info;
      if (existing.owner !== owner) {
        // Renewed by another instance: it is that instance's entry now, ending when it goes.
        this.unown(group, existing);
        existing.owner = owner;
        this.own(group, existing);
      }
      return false;
    }
    const record: PresenceRecord<I> = { channel, info, since: now, owner, seq: this.seq++, ended: false };
    gp.byChannel.set(channel, record);
    gp.order.push(record);
    this.total++;
    this.own(group, record);
    return true;
  }

  private own(group: string, record: PresenceRecord<I>): void {
    if (record.owner === undefined) return;
    let groups = this.owners.get(record.owner);
    if (groups === undefined) this.owners.set(record.owner, (groups = new Map<string, Set<string>>()));
    let channels = groups.get(group);
    if (channels === undefined) groups.set(group, (channels = new Set()));
    channels.add(record.channel);
  }

  private unown(group: string, record: PresenceRecord<I>): void {
    if (record.owner === undefined) return;
    const groups = this.owners.get(record.owner);
    const channels = groups?.get(group);
    channels?.delete(record.channel);
    if (channels?.size === 0) groups!.delete(group);
    if (groups?.size === 0) this.owners.delete(record.owner);
  }

  /** The info of `channel`'s entry in `group`, if it has one. */
  infoOf(group: string, channel: string): I | undefined {
    return this.groups.get(group)?.byChannel.get(channel)?.info;
  }

  /** End `channel`'s entry in `group`, if it has one; returns it. */
  delete(group: string, channel: string): PresenceRecord<I> | undefined {
    const gp = this.groups.get(group);
    const record = gp?.byChannel.get(channel);
    if (gp === undefined || record === undefined) return undefined;
    this.end(group, gp, record);
    return record;
  }

  /** The (group, channel) of every entry `owner` made. */
  ownedBy(owner: string): Array<[group: string, channel: string]> {
    const out: Array<[string, string]> = [];
    for (const [group, channels] of this.owners.get(owner) ?? []) for (const channel of channels) out.push([group, channel]);
    return out;
  }

  count(group: string): number {
    return this.groups.get(group)?.byChannel.size ?? 0;
  }

  /** Up to `limit` entries of `group` that began after cursor `after` (-1: from the first), oldest first. */
  page(group: string, after: number, limit: number): PresencePageOf<I> {
    const gp = this.groups.get(group);
    if (gp === undefined) return { entries: [], next: undefined };
    const order = gp.order;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid]!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    const entries: PresenceRecord<I>[] = [];
    let i = lo;
    for (; i < order.length && entries.length < limit; i++) if (!order[i]!.ended) entries.push(order[i]!);
    while (i < order.length && order[i]!.ended) i++;
    return { entries, next: i < order.length ? entries[entries.length - 1]!.seq : undefined };
  }

  /** Forget every entry (flush); no leaves: the groups are gone too. */
  clear(): void {
    this.groups.clear();
    this.owners.clear();
    this.total = 0;
  }

  private end(group: string, gp: GroupPresence<I>, record: PresenceRecord<I>): void {
    gp.byChannel.delete(record.channel);
    record.ended = true;
    this.total--;
    this.unown(group, record);
    if (gp.byChannel.size === 0) {
      this.groups.delete(group);
      return;
    }
    // Compact once ended entries are half the list: amortised O(1) per end.
    if (++gp.endedCount * 2 > gp.order.length) {
      gp.order = gp.order.filter((r) => !r.ended);
      gp.endedCount = 0;
    }
  }
}
