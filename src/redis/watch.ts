/**
 * The Redis layer's connection state and its memberships across a restart
 * (docs/semantics.md §5). Each shard's command client says when it is ready or lost; a
 * shard that comes back as another Redis process (its `run_id` changed), or
 * that lost this layer's marker key, lost our memberships too: they are added
 * again with the score they were made with (so they keep the expiry they had
 * left) and the layer emits "gap" with reason "redis-restarted".
 *
 * On a Redis Cluster the shards share one client, whose events say nothing
 * of one slot's master: each shard is probed every second instead (its
 * marker, in its slot). A shard that failed to answer and answers again, or
 * whose slot's master was replaced by a node that was not serving (its
 * replica: a failover quicker than a probe), may have lost the last writes
 * (replication is asynchronous), so it is restored and reported the same way.
 *
 * The marker lives outside the layer's prefix on purpose: a flush by any
 * process deletes `prefix*`, and must not make every other layer restore the
 * memberships that flush was meant to end.
 */
import type { GapReason, LayerState } from "../layer.js";
import { Memberships } from "../client/memberships.js";
import { unavailableError, type Shard } from "./connections.js";

export interface WatchHooks {
  setState(state: LayerState): void;
  gap(reason: GapReason): void;
  /** Which shard holds `group`'s key. */
  shardOf(group: string): Shard;
  /** Add `channel` to `group` again with `leftMs` of its expiry left. */
  restore(shard: Shard, group: string, channel: string, leftMs: number): Promise<unknown>;
}

/** Milliseconds between marker checks; the marker lives six times as long. */
const CHECK_MS = 5000;

/** Milliseconds between probes of a cluster shard, and how long one may take before its shard counts as lost. */
const PROBE_MS = 1000;
const PROBE_TIMEOUT_MS = 1000;

interface ShardWatch {
  ready: boolean;
  runId: string | undefined;
  marked: boolean;
  /** A restore of this shard that has not completed. */
  restoring: boolean;
  /** A cluster shard's probe is on its way. */
  probing: boolean;
  /** The master a cluster shard's last probe reached. */
  master: string | undefined;
}

export class RedisWatch {
  readonly memberships = new Memberships();
  private readonly watches: ShardWatch[];
  private readonly timer: NodeJS.Timeout;
  /** Ends the first connect: past connectionLostTimeout without Redis, the layer is "failed". */
  private readonly firstTimer: NodeJS.Timeout;
  private readonly marker: string;
  private everReady = false;
  /** A restore completed and the app has not been told yet (payGap). */
  private gapOwed = false;
  private lostSince: number | undefined = Date.now();
  private closed = false;

  constructor(
    private readonly shards: Shard[],
    instanceId: string,
    private readonly groupExpiryMs: number,
    private readonly timeoutMs: number,
    private readonly hooks: WatchHooks,
  ) {
    this.marker = `channel-layers:alive:${instanceId}`;
    this.watches = shards.map(() => ({ ready: false, runId: undefined, marked: false, restoring: false, probing: false, master: undefined }));
    const cluster = shards.some((s) => s.cluster);
    for (const shard of cluster ? [] : shards) {
      const client = shard.commands;
      client.on("ready", () => void this.onReady(shard));
      client.on("close", () => this.onLost(shard));
      // Registered after the shard's own listener, which decides whether the error is fatal.
      client.on("error", () => {
        if (shard.fatal !== undefined) this.updateState();
      });
    }
    if (cluster) setImmediate(() => this.check());
    this.timer = setInterval(() => this.check(), cluster ? PROBE_MS : CHECK_MS);
    this.timer.unref();
    this.firstTimer = setTimeout(() => this.updateState(), timeoutMs + 10);
    this.firstTimer.unref();
  }

  /** Stops watching and deletes this layer's markers, so a clean stop leaves no key outside the prefix behind. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.firstTimer);
    await Promise.all(
      this.shards
        .filter((s) => this.watches[s.index]!.marked && s.commands.status === "ready")
        .map((s) => s.commands.del(this.marker).catch(() => {})),
    );
  }

  /** Why the layer is not ready: a refusal, or the shards that are down and why. */
  unavailable(): Error {
    return unavailableError(
      this.shards,
      this.shards.filter((s) => !this.watches[s.index]!.ready),
      this.timeoutMs,
    );
  }

  private async onReady(shard: Shard): Promise<void> {
    const watch = this.watches[shard.index]!;
    let runId: string | undefined;
    try {
      const info = await shard.commands.info("server");
      runId = /run_id:(\w+)/.exec(info)?.[1];
    } catch {
      // ioredis-mock, or a Redis that hides INFO: the marker alone tells
    }
    if (this.closed) return;
    const restarted = watch.runId !== undefined && runId !== undefined && runId !== watch.runId;
    if (runId !== undefined) watch.runId = runId;
    watch.ready = true;
    this.updateState();
    if (restarted || watch.restoring) await this.restore(shard);
    else await this.mark(shard);
  }

  private onLost(shard: Shard): void {
    const watch = this.watches[shard.index]!;
    if (!watch.ready) return;
    watch.ready = false;
    this.lostSince ??= Date.now();
    this.updateState();
  }

  /** Every shard ready: "ready"; one lost for longer than connectionLostTimeout: "failed"; else "reconnecting". */
  private updateState(): void {
    if (this.closed) return;
    if (this.shards.some((s) => s.fatal !== undefined)) return this.hooks.setState("failed");
    if (this.watches.every((w) => w.ready)) {
      this.everReady = true;
      this.lostSince = undefined;
      this.hooks.setState("ready");
    } else {
      const failed = this.lostSince !== undefined && Date.now() - this.lostSince >= this.timeoutMs;
      if (failed) this.hooks.setState("failed");
      else if (this.everReady) this.hooks.setState("reconnecting");
    }
  }

  /** Refresh the marker of every ready shard (probe every cluster shard); one that lost it lost our memberships. */
  private check(): void {
    if (this.closed) return;
    this.updateState();
    for (const shard of this.shards) {
      if (shard.cluster) void this.probe(shard);
      else if (this.watches[shard.index]!.ready) void this.mark(shard);
    }
  }

  /** Its marker, in its slot on a cluster. */
  private markerOf(shard: Shard): string {
    return shard.tag + this.marker;
  }

  /** A cluster shard: lost when its marker cannot be set in time, restored when it can again (after a loss). */
  private async probe(shard: Shard): Promise<void> {
    const watch = this.watches[shard.index]!;
    if (watch.probing) return;
    watch.probing = true;
    let timer: NodeJS.Timeout | undefined;
    let previous: unknown;
    try {
      previous = await Promise.race([
        shard.commands.set(this.markerOf(shard), "1", "PX", CHECK_MS * 6, "GET"),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("probe timed out")), PROBE_TIMEOUT_MS))),
      ]);
    } catch {
      if (!this.closed) this.onLost(shard);
      return;
    } finally {
      clearTimeout(timer);
      watch.probing = false;
    }
    if (this.closed) return;
    const master = shard.cluster!.master();
    const before = watch.master;
    if (master !== undefined) watch.master = master;
    // A slot moved by resharding keeps its keys; one whose master stopped serving altogether failed over.
    const failedOver = before !== undefined && master !== undefined && master !== before && !shard.cluster!.serves(before);
    if (!watch.ready) {
      const back = watch.marked; // it answered before: a failover may have lost the last writes
      watch.ready = true;
      this.updateState();
      if (back || watch.restoring) {
        await this.restore(shard);
        return;
      }
    }
    if (failedOver) {
      await this.restore(shard);
      return;
    }
    const lost = watch.marked && previous === null;
    watch.marked = true;
    if (lost) await this.restore(shard);
  }

  private async mark(shard: Shard): Promise<void> {
    const watch = this.watches[shard.index]!;
    let previous: unknown;
    try {
      previous = await shard.commands.set(this.markerOf(shard), "1", "PX", CHECK_MS * 6, "GET");
    } catch {
      return; // down again, or a server without SET … GET: the next ready tells
    }
    if (this.closed) return;
    const lost = watch.marked && previous === null;
    watch.marked = true;
    if (lost) await this.restore(shard);
  }

  /** Add this shard's memberships again, then tell the app. */
  private async restore(shard: Shard): Promise<void> {
    const watch = this.watches[shard.index]!;
    watch.restoring = true;
    try {
      const mine = this.memberships.live(this.groupExpiryMs).filter(([group]) => this.hooks.shardOf(group) === shard);
      await Promise.all(mine.map(([group, channel, left]) => this.hooks.restore(shard, group, channel, left)));
      await shard.commands.set(this.markerOf(shard), "1", "PX", CHECK_MS * 6);
    } catch {
      return; // lost again: the next ready restores
    }
    watch.restoring = false;
    watch.marked = true;
    this.gapOwed = true;
    this.payGap();
  }

  /**
   * One "gap" once every shard is back and restored: a failover takes down
   * every shard of a master at once, and the app should resync once.
   */
  private payGap(): void {
    if (this.closed || !this.gapOwed || !this.watches.every((w) => w.ready && !w.restoring)) return;
    this.gapOwed = false;
    this.hooks.gap("redis-restarted");
  }
}
