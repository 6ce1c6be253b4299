/**
 * Restoring a broker client's state after a reconnect (docs/semantics.md §5). The broker
 * says in hello which broker process answers (its epoch) and whether it still
 * held this instance's state. A new epoch, or a broker that dropped us (our
 * reconnect grace ran out), lost our memberships: they are added again, each
 * with the expiry it had left, ahead of every call made after the reconnect;
 * then the app hears "gap". The `!` channels are registered again by the
 * same requests, and by the receives that resume on the new link.
 */
import type { GapReason } from "../layer.js";
import { Memberships } from "../client/memberships.js";
import type { GroupAddRequest } from "./decode.js";
import { Op, type HelloInfo } from "./ops.js";

export class Restorer {
  readonly memberships = new Memberships();
  /** The presence info (encoded) of memberships made with it, `group channel` → bytes: restored with them. */
  private readonly infos = new Map<string, Buffer>();
  private epoch: string | undefined;
  /** A restore that did not complete (the link dropped again): redone on the next hello. */
  private unfinished: GapReason | undefined;
  private groupExpiryMs: number;

  constructor(
    groupExpiry: number,
    /** Queue a request; the promise settles with its answer. */
    private readonly call: (request: GroupAddRequest) => Promise<unknown>,
    private readonly gap: (reason: GapReason) => void,
  ) {
    this.groupExpiryMs = groupExpiry * 1000;
  }

  /** Remember a groupAdd (with its presence info, if any) while it is made; forget it if the broker did not apply it. */
  onGroupAdd(group: string, channel: string, call: Promise<void>, info?: Buffer): Promise<void> {
    const at = this.memberships.added(group, channel);
    if (info !== undefined) this.infos.set(`${group} ${channel}`, info);
    call.catch(() => {
      this.memberships.failed(group, channel, at);
      if (info !== undefined && this.infos.get(`${group} ${channel}`) === info) this.infos.delete(`${group} ${channel}`);
    });
    return call;
  }

  onGroupDiscard(group: string, channel: string): void {
    this.memberships.discarded(group, channel);
    this.infos.delete(`${group} ${channel}`);
  }

  /** A flush: every membership is gone. */
  onFlush(): void {
    this.memberships.clear();
    this.infos.clear();
  }

  /** Whether this layer made presence entries that may still be live (its close then ends them at once). */
  get hasPresence(): boolean {
    return this.infos.size > 0;
  }

  /** A hello was answered Ok with `info`: queue what the broker lost, before anything else is queued. */
  hello({ epoch, resumed, groupExpiry }: Partial<HelloInfo>): void {
    if (typeof groupExpiry === "number" && groupExpiry > 0) this.groupExpiryMs = groupExpiry * 1000;
    // A broker that names no epoch predates it: nothing can be told.
    if (typeof epoch !== "string") return;
    const previous = this.epoch;
    this.epoch = epoch;
    let reason = this.unfinished;
    if (previous !== undefined && previous !== epoch) reason = "broker-restarted";
    else if (previous !== undefined && resumed === false) reason ??= "grace-expired";
    if (reason === undefined) return;
    this.unfinished = reason;
    const live = this.memberships.live(this.groupExpiryMs);
    const kept = new Set(live.map(([group, channel]) => `${group} ${channel}`));
    for (const key of this.infos.keys()) if (!kept.has(key)) this.infos.delete(key);
    const calls = live.map(([group, channel, left]) => {
      const presence = this.infos.get(`${group} ${channel}`);
      return this.call({ op: Op.GroupAdd, id: 0, group, channel, expiry: left / 1000, presence });
    });
    Promise.all(calls).then(
      () => {
        if (this.unfinished !== reason) return;
        this.unfinished = undefined;
        this.gap(reason);
      },
      () => {}, // the link dropped again (or the layer closed): the next hello restores again
    );
  }
}
