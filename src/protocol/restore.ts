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
import { Memberships } from "../memberships.js";
import { Op, type HelloInfo } from "./ops.js";

export class Restorer {
  readonly memberships = new Memberships();
  private epoch: string | undefined;
  /** A restore that did not complete (the link dropped again): redone on the next hello. */
  private unfinished: GapReason | undefined;
  private groupExpiryMs: number;

  constructor(
    groupExpiry: number,
    /** Queue a request; the promise settles with its answer. */
    private readonly call: (frame: unknown[]) => Promise<unknown>,
    private readonly gap: (reason: GapReason) => void,
  ) {
    this.groupExpiryMs = groupExpiry * 1000;
  }

  /** Remember a groupAdd while it is made; forget it if the broker did not apply it. */
  added(group: string, channel: string, call: Promise<void>): Promise<void> {
    const at = this.memberships.added(group, channel);
    call.catch(() => this.memberships.failed(group, channel, at));
    return call;
  }

  /** A hello was answered Ok with `info`: queue what the broker lost, before anything else is queued. */
  hello(info: unknown): void {
    const { epoch, resumed, groupExpiry } = (typeof info === "object" && info !== null ? info : {}) as Partial<HelloInfo>;
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
    const calls = this.memberships.live(this.groupExpiryMs).map(([group, channel, left]) =>
      this.call([Op.GroupAdd, 0, group, channel, left / 1000]));
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
