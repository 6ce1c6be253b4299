/**
 * The status page's data: once a second, the broker's counters become a
 * point of message rates (kept for the last minutes, so a page opened now
 * draws a chart at once), and, while anyone watches, a full snapshot with
 * the busiest channels, largest groups and clients goes to every watcher.
 */
import type { Broker } from "../protocol/broker.js";
import type { BrokerDetails, BrokerStats } from "../protocol/ops.js";

/** Messages per second over one interval. */
export interface RatePoint {
  /** End of the interval, in milliseconds since the epoch. */
  at: number;
  /** Messages stored: sends and group deliveries. */
  sent: number;
  received: number;
  expired: number;
  /** Refused or skipped: channel full, group member full, overflow, rate limited. */
  dropped: number;
}

export interface Snapshot extends BrokerStats, BrokerDetails {
  /** When it was taken, in milliseconds since the epoch. */
  at: number;
  /** Seconds since the broker started. */
  uptime: number;
  /** Rates, oldest first: the last few minutes, or in a watcher's later snapshots only the newest point. */
  rates: RatePoint[];
}

export interface SamplerOptions {
  /** Milliseconds between samples. Default 1000. */
  interval?: number;
  /** Rate points kept. Default 300 (five minutes at one a second). */
  history?: number;
  /** Entries in each top list. Default 10. */
  top?: number;
}

type Totals = Pick<RatePoint, "sent" | "received" | "expired" | "dropped">;

export class Sampler {
  private readonly rates: RatePoint[] = [];
  private readonly watchers = new Set<(snapshot: Snapshot) => void>();
  private readonly timer: NodeJS.Timeout;
  private readonly started = Date.now();
  private readonly history: number;
  private readonly top: number;
  private last: { at: number; totals: Totals };
  /** A tick's census is being walked. */
  private counting = false;

  constructor(
    private readonly broker: Broker,
    options: SamplerOptions = {},
  ) {
    this.history = options.history ?? 300;
    this.top = options.top ?? 10;
    this.last = { at: performance.now(), totals: this.totals() };
    this.timer = setInterval(() => this.tick(), options.interval ?? 1000);
    this.timer.unref();
  }

  /**
   * The broker's figures, with the rate history (all of it, or the newest
   * point), once a census of the broker is at hand (Broker.figures): a new
   * one, walked a slice at a time, unless the latest is younger than 50
   * times its walk's CPU time (docs/observability.md, "How fresh").
   */
  async read(history: "all" | "latest" = "all"): Promise<Snapshot> {
    return this.made(await this.broker.figures(this.top, 0), history);
  }

  /**
   * The same at once, for a local caller (tests): a census still to make is
   * walked whole now (Broker.top), holding the broker's clients up meanwhile.
   */
  snapshot(history: "all" | "latest" = "all", listsMaxAge = 200): Snapshot {
    return this.made({ ...this.broker.stats(), ...this.broker.top(this.top, listsMaxAge) }, history);
  }

  /** Call `watcher` with a snapshot (newest rate point only) every interval until the returned function is called. */
  watch(watcher: (snapshot: Snapshot) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  close(): void {
    clearInterval(this.timer);
    this.watchers.clear();
  }

  private made(figures: BrokerStats & BrokerDetails, history: "all" | "latest"): Snapshot {
    const rates = history === "all" ? [...this.rates] : this.rates.slice(-1);
    return { ...figures, at: Date.now(), uptime: (Date.now() - this.started) / 1000, rates };
  }

  private totals(): Totals {
    const c = this.broker.engine.counters;
    return {
      sent: c.sent + c.groupDelivered,
      received: c.received,
      expired: c.expired,
      dropped: c.rejectedFull + c.groupSkippedFull + c.droppedOverflow + c.rateLimited,
    };
  }

  private tick(): void {
    const now = performance.now();
    const totals = this.totals();
    const seconds = (now - this.last.at) / 1000;
    const rate = (key: keyof Totals): number => Math.max(0, totals[key] - this.last.totals[key]) / seconds;
    this.rates.push({ at: Date.now(), sent: rate("sent"), received: rate("received"), expired: rate("expired"), dropped: rate("dropped") });
    if (this.rates.length > this.history) this.rates.shift();
    this.last = { at: now, totals };
    if (this.watchers.size === 0 || this.counting) return;
    // While this tick's census is walked, later ticks send nothing: watchers get one snapshot per census.
    this.counting = true;
    void this.read("latest").then((snapshot) => {
      this.counting = false;
      for (const watcher of this.watchers) watcher(snapshot);
    });
  }
}
