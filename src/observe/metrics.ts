/**
 * Prometheus metrics of one broker, on a Registry of its own (never
 * prom-client's global one), so several brokers in one process, and tests,
 * do not collide. Gauges are read from a census of the broker and counters
 * from the engine at scrape time; only request latency is recorded as it
 * happens (see latency.ts).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { Counter, Gauge, Registry } from "prom-client";
import type { EngineCounters } from "../engine/engine.js";
import type { Broker } from "../protocol/broker.js";
import type { BrokerStats } from "../protocol/ops.js";
import { RequestLatency } from "./latency.js";

/**
 * The event-loop monitor's timer fires every this many milliseconds and
 * records the whole gap, resolution included (measured: an idle loop reads
 * about 10 ms at resolution 10): the lag is what exceeds it.
 */
const LOOP_RESOLUTION_MS = 10;

/** Engine counters as Prometheus counters: name, help, and the labels of a shared metric. */
const COUNTERS: Array<[keyof EngineCounters, string, string, Record<string, string>?]> = [
  ["sent", "channel_layers_messages_sent_total", "Messages accepted by send."],
  ["received", "channel_layers_messages_received_total", "Messages handed to a receiver."],
  ["expired", "channel_layers_messages_expired_total", "Messages that expired unread."],
  ["groupSends", "channel_layers_group_sends_total", "groupSend calls."],
  ["groupDelivered", "channel_layers_group_deliveries_total", "Member deliveries made by groupSend."],
  ["rejectedFull", "channel_layers_messages_dropped_total", "Messages not stored, by reason.", { reason: "channel_full" }],
  ["groupSkippedFull", "channel_layers_messages_dropped_total", "", { reason: "group_member_full" }],
  ["droppedOverflow", "channel_layers_messages_dropped_total", "", { reason: "overflow" }],
  ["rateLimited", "channel_layers_messages_dropped_total", "", { reason: "rate_limited" }],
  ["deadLettered", "channel_layers_dead_letters_total", "Dropped messages written to the dead-letter channel."],
  ["membershipsExpired", "channel_layers_memberships_expired_total", "Group memberships that expired without renewal."],
];

export class BrokerMetrics {
  readonly registry = new Registry();
  private readonly loop: IntervalHistogram;

  constructor(private readonly broker: Broker) {
    const registers = [this.registry];
    // A scrape starts every gauge's collect in one synchronous run: they all wait for one census (Broker.figures), walked a slice at a time.
    let counting: Promise<BrokerStats> | undefined;
    const stats = (): Promise<BrokerStats> => {
      counting ??= broker.figures(0, 0).finally(() => (counting = undefined));
      return counting;
    };
    const gauge = (name: string, help: string, read: (s: BrokerStats) => number): void => {
      new Gauge({ name, help, registers, async collect() { this.set(read(await stats())); } });
    };
    gauge("channel_layers_channels", "Channels holding messages, waiting receivers or memberships.", (s) => s.channels);
    gauge("channel_layers_messages", "Messages queued, not yet received.", (s) => s.messages);
    gauge("channel_layers_waiting_receivers", "Receives waiting for a message.", (s) => s.waitingReceivers);
    gauge("channel_layers_groups", "Groups with at least one member.", (s) => s.groups);
    gauge("channel_layers_group_members", "Group memberships.", (s) => s.members);
    gauge("channel_layers_connections", "Client connections open.", (s) => s.clients);
    gauge("channel_layers_reply_cache_entries", "Replies in the shared cache of request(…, { cacheFor }).", (s) => s.replyCache.entries);
    gauge("channel_layers_reply_cache_bytes", "Bytes the reply cache holds (bounded by maxCacheBytes).", (s) => s.replyCache.bytes);
    const grows = (name: string, help: string, read: () => number): void => {
      let last = 0;
      new Counter({ name, help, registers, collect() { const now = read(); this.inc(now - last); last = now; } });
    };
    grows("channel_layers_reply_cache_hits_total", "Requests answered from the reply cache.", () => broker.replyHits);
    grows("channel_layers_reply_cache_misses_total", "Reply cache look-ups that found nothing.", () => broker.replyMisses);
    grows("channel_layers_reply_cache_evictions_total", "Live replies the reply cache evicted to stay within its bytes.", () => broker.replies.evictions);
    this.engineCounters();
    let opened = 0;
    new Counter({
      name: "channel_layers_connections_opened_total",
      help: "Client connections accepted.",
      registers,
      collect() {
        this.inc(broker.connectionsOpened - opened);
        opened = broker.connectionsOpened;
      },
    });

    const latency = new RequestLatency(this.registry);
    broker.onRequest = (op, seconds) => latency.record(op, seconds);

    this.loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loop.enable();
    this.eventLoopGauges();
    const memory = (name: string, help: string, read: (m: NodeJS.MemoryUsage) => number): void => {
      new Gauge({ name, help, registers, collect() { this.set(read(process.memoryUsage())); } });
    };
    memory("process_resident_memory_bytes", "Resident memory size in bytes.", (m) => m.rss);
    memory("nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes.", (m) => m.heapUsed);
  }

  /**
   * Engine counters only grow, except `received`, which a requeue (a receive
   * cancelled in flight) takes back by one: a Prometheus counter must never
   * go down, so each reports the highest value seen.
   */
  private engineCounters(): void {
    const byName = new Map<string, Array<[keyof EngineCounters, Record<string, string> | undefined]>>();
    const help = new Map<string, string>();
    for (const [key, name, text, labels] of COUNTERS) {
      if (!byName.has(name)) byName.set(name, []);
      byName.get(name)!.push([key, labels]);
      if (text) help.set(name, text);
    }
    const broker = this.broker;
    for (const [name, parts] of byName) {
      const seen = new Map<keyof EngineCounters, number>();
      const labelNames = parts[0]![1] ? Object.keys(parts[0]![1]) : [];
      new Counter({
        name,
        help: help.get(name)!,
        labelNames,
        registers: [this.registry],
        collect() {
          const counters = broker.engine.counters;
          for (const [key, labels] of parts) {
            const value = Math.max(seen.get(key) ?? 0, counters[key]);
            const grew = value - (seen.get(key) ?? 0);
            seen.set(key, value);
            if (labels) this.inc(labels, grew);
            else this.inc(grew);
          }
        },
      });
    }
  }

  private eventLoopGauges(): void {
    const loop = this.loop;
    const lag = (name: string, help: string, read: () => number): Gauge => {
      return new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const sampled = loop.count > 0;
          const ns = read();
          this.set(sampled ? Math.max(0, ns - LOOP_RESOLUTION_MS * 1e6) / 1e9 : 0);
        },
      });
    };
    lag("nodejs_eventloop_lag_mean_seconds", "Mean event-loop delay since the last scrape.", () => loop.mean);
    lag("nodejs_eventloop_lag_p50_seconds", "Median event-loop delay since the last scrape.", () => loop.percentile(50));
    lag("nodejs_eventloop_lag_p99_seconds", "99th percentile event-loop delay since the last scrape.", () => loop.percentile(99));
    // Collected last of the four (registration order), so it resets the window after the others read it.
    lag("nodejs_eventloop_lag_max_seconds", "Largest event-loop delay since the last scrape.", () => {
      const max = loop.max;
      loop.reset();
      return max;
    });
  }

  /** The exposition text, for GET /metrics. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stop timing requests and watching the event loop. */
  close(): void {
    this.broker.onRequest = undefined;
    this.loop.disable();
  }
}
