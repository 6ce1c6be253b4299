/**
 * The reference model of the engine's semantics (SPEC §4): plain arrays and
 * maps, no cleverness, expired state dropped at the same moments the spec
 * allows the engine to drop it.
 */
export class Model {
  readonly channels = new Map<string, Array<{ id: number; deadline: number }>>();
  readonly groups = new Map<string, Map<string, number>>();

  constructor(
    readonly expiryMs: number,
    readonly groupExpiryMs: number,
    readonly capacity: number,
  ) {}

  private queue(ch: string): Array<{ id: number; deadline: number }> {
    let q = this.channels.get(ch);
    if (!q) this.channels.set(ch, (q = []));
    return q;
  }

  /** Drop expired messages of `ch`; if any, it leaves all its groups. */
  expire(ch: string, now: number): number {
    const q = this.queue(ch);
    let dropped = 0;
    while (q.length > 0 && q[0]!.deadline <= now) {
      q.shift();
      dropped++;
    }
    if (dropped > 0) {
      for (const [name, members] of this.groups) {
        members.delete(ch);
        if (members.size === 0) this.groups.delete(name);
      }
    }
    return dropped;
  }

  expireMembers(group: string, now: number): void {
    const members = this.groups.get(group);
    if (!members) return;
    for (const [ch, deadline] of members) if (deadline <= now) members.delete(ch);
    if (members.size === 0) this.groups.delete(group);
  }

  send(ch: string, id: number, now: number): boolean {
    this.expire(ch, now);
    const q = this.queue(ch);
    if (q.length >= this.capacity) return false;
    q.push({ id, deadline: now + this.expiryMs });
    return true;
  }

  take(ch: string, now: number): number | undefined {
    this.expire(ch, now);
    return this.queue(ch).shift()?.id;
  }

  groupAdd(group: string, ch: string, now: number): void {
    this.expire(ch, now);
    let members = this.groups.get(group);
    if (!members) this.groups.set(group, (members = new Map()));
    members.delete(ch);
    members.set(ch, now + this.groupExpiryMs);
  }

  groupDiscard(group: string, ch: string): void {
    const members = this.groups.get(group);
    if (!members) return;
    members.delete(ch);
    if (members.size === 0) this.groups.delete(group);
  }

  groupSend(group: string, id: number, now: number): void {
    this.expireMembers(group, now);
    const members = this.groups.get(group);
    if (!members) return;
    for (const ch of [...members.keys()]) {
      if (this.expire(ch, now) > 0) continue;
      const q = this.queue(ch);
      if (q.length < this.capacity) q.push({ id, deadline: now + this.expiryMs });
    }
  }

  /** Everything due, as a full sweep reclaims it. */
  sweep(now: number): void {
    for (const ch of [...this.channels.keys()]) this.expire(ch, now);
    for (const g of [...this.groups.keys()]) this.expireMembers(g, now);
  }

  flush(): void {
    this.channels.clear();
    this.groups.clear();
  }

  messages(): number {
    let n = 0;
    for (const q of this.channels.values()) n += q.length;
    return n;
  }

  members(): number {
    let n = 0;
    for (const m of this.groups.values()) n += m.size;
    return n;
  }

  /** A membership the engine may already have reclaimed: expired, or its channel let a message expire. */
  isDead(group: string, ch: string, now: number): boolean {
    const deadline = this.groups.get(group)?.get(ch);
    const head = this.channels.get(ch)?.[0];
    return (deadline !== undefined && deadline <= now) || (head !== undefined && head.deadline <= now);
  }

  membersOf(ch: string): string[] {
    return [...this.groups].filter(([, m]) => m.has(ch)).map(([g]) => g).sort();
  }
}
