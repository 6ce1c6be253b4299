/**
 * The group memberships a remote layer made, so that it can make them again
 * on a backend that lost them (a restarted broker or Redis, docs/semantics.md §5). Only
 * what this layer joined is kept: a groupAdd that failed, a groupDiscard and
 * a flush take entries out, and an entry older than groupExpiry is dropped,
 * as the backend would have dropped the membership itself.
 */

/** A membership to restore: the group, the channel, and the milliseconds it has left. */
export type Restorable = [group: string, channel: string, leftMs: number];

export class Memberships {
  /** group → channel → when it was (last) added, by performance.now(). */
  private readonly joined = new Map<string, Map<string, number>>();

  /** A groupAdd was made; returns its time, which `failed` needs to undo exactly this add. */
  added(group: string, channel: string): number {
    let members = this.joined.get(group);
    if (members === undefined) this.joined.set(group, (members = new Map<string, number>()));
    const at = performance.now();
    members.set(channel, at);
    return at;
  }

  /** The groupAdd made at `at` was not applied: forget it, unless a later add renewed it. */
  failed(group: string, channel: string, at: number): void {
    if (this.joined.get(group)?.get(channel) === at) this.discarded(group, channel);
  }

  discarded(group: string, channel: string): void {
    const members = this.joined.get(group);
    if (members === undefined) return;
    members.delete(channel);
    if (members.size === 0) this.joined.delete(group);
  }

  /** Flush empties every group. */
  clear(): void {
    this.joined.clear();
  }

  get size(): number {
    let n = 0;
    for (const members of this.joined.values()) n += members.size;
    return n;
  }

  /** The memberships younger than `groupExpiryMs`, with what they have left; older ones are forgotten. */
  live(groupExpiryMs: number): Restorable[] {
    const now = performance.now();
    const out: Restorable[] = [];
    for (const [group, members] of this.joined) {
      for (const [channel, at] of members) {
        const left = at + groupExpiryMs - now;
        if (left > 0) out.push([group, channel, left]);
        else members.delete(channel);
      }
      if (members.size === 0) this.joined.delete(group);
    }
    return out;
  }
}
