/**
 * `channel-layers stats` in the terminal: the broker's figures, counters,
 * busiest channels, largest groups and clients as plain text, once or
 * redrawn every interval with --watch until Ctrl-C.
 */
import type { BrokerDetails, BrokerStats } from "../protocol/ops.js";
import type { RemoteChannelLayer } from "../transport/remote-layer.js";

const fmt = new Intl.NumberFormat("en-US");
const n = (value: number): string => fmt.format(value);

/** Names longer than this are cut in the tables (the status page shows them whole). */
const NAME_WIDTH = 48;

function table(title: string, header: string[], rows: string[][], empty: string): string[] {
  if (rows.length === 0) return [title, `  ${empty}`];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  // The first column is a name (left-aligned); the others are figures (right-aligned).
  const line = (r: string[]): string => "  " + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [title, ...all.map(line)];
}

const cut = (name: string): string => (name.length > NAME_WIDTH ? `${name.slice(0, NAME_WIDTH - 1)}…` : name);

/** The figures of one look at the broker, as lines of text. */
export function renderStats(url: string, s: BrokerStats & BrokerDetails, at = new Date()): string {
  const c = s.counters;
  const lines = [
    `broker   ${url}   ${at.toISOString().slice(11, 19)} UTC`,
    `channels ${n(s.channels)}`,
    `messages ${n(s.messages)}`,
    `waiting  ${n(s.waitingReceivers)}`,
    `groups   ${n(s.groups)}`,
    `members  ${n(s.members)}`,
    `clients  ${n(s.clients)}`,
    "",
    "counters",
    `  sent ${n(c.sent)}  received ${n(c.received)}  expired ${n(c.expired)}  group sends ${n(c.groupSends)}  group deliveries ${n(c.groupDelivered)}`,
    `  refused full ${n(c.rejectedFull)}  skipped full ${n(c.groupSkippedFull)}  overflow ${n(c.droppedOverflow)}  rate limited ${n(c.rateLimited)}  dead-lettered ${n(c.deadLettered)}  memberships expired ${n(c.membershipsExpired)}`,
    "",
    ...table("busiest channels", ["channel", "queued", "waiting"], s.channelTop.map((x) => [cut(x.name), n(x.messages), n(x.waiting)]), "none holds anything"),
    "",
    ...table("largest groups", ["group", "members"], s.groupTop.map((g) => [cut(g.name), n(g.members)]), "none"),
    "",
    ...table(
      "clients",
      ["address", "id", "instance", "waiting"],
      s.clientList.map((x) => [x.peer, String(x.id), x.instance || "-", n(x.pendingReceives)]),
      "none",
    ),
  ];
  return lines.join("\n") + "\n";
}

export interface WatchOptions {
  /** Seconds between looks. */
  interval: number;
  /** Entries in each list. */
  top: number;
  /** Where frames go. */
  out: NodeJS.WriteStream;
}

/**
 * Redraw every interval until SIGINT or SIGTERM, then close the layer and
 * resolve. A broker that goes away is reported in the frame and watched
 * for again, as the layer reconnects by itself.
 */
export async function watchStats(layer: RemoteChannelLayer, options: WatchOptions): Promise<void> {
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = (): void => {
    stopped = true;
    wake?.();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    while (!stopped) {
      let frame: string;
      try {
        frame = renderStats(layer.url, await layer.details(options.top));
      } catch (err) {
        frame = `broker   ${layer.url}\n${(err as Error).message}\n`;
      }
      if (stopped) break;
      // On a terminal each frame replaces the last; piped, frames follow each other, a blank line apart.
      options.out.write(options.out.isTTY ? `\x1b[H\x1b[2J${frame}` : `${frame}\n`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.interval * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await layer.close();
  }
}
