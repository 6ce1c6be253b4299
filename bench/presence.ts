/**
 * Presence rows (docs/presence.md): reading a 10k-member group whole, page by
 * page, and join/leave throughput. Written over `ChannelLayer` so every
 * backend that keeps presence runs the same code.
 */
import { PRESENCE_PAGE_MAX, type ChannelLayer } from "../src/index.js";
import type { ExtraResult } from "./types.js";

const BATCH = 500;
let run = 0;

/** `presence-list`: entries listed per second reading a `members` group in pages; `presence-join-leave`: joins and leaves per second, 100 members in the group at most. */
export async function presenceRows(make: () => ChannelLayer | Promise<ChannelLayer>, quick: boolean): Promise<ExtraResult[]> {
  const layer = await make();
  try {
    if (layer.presence === undefined || layer.presenceCount === undefined) return [];
    const members = quick ? 1000 : 10_000;
    const group = `bench.presence.${process.pid}.${run++}`;
    const channel = (i: number): string => `${group}.m${i}`;
    for (let i = 0; i < members; i += BATCH) {
      const adds: Promise<void>[] = [];
      for (let j = i; j < Math.min(members, i + BATCH); j++) adds.push(layer.groupAdd(group, channel(j), { presence: { user: `u${j}`, n: j } }));
      await Promise.all(adds);
    }
    const reads = quick ? 3 : 10;
    let listed = 0;
    const listStart = performance.now();
    for (let r = 0; r < reads; r++) {
      for (let page = await layer.presence(group, { limit: PRESENCE_PAGE_MAX }); ; page = await layer.presence(group, { limit: PRESENCE_PAGE_MAX, after: page.next })) {
        listed += page.entries.length;
        if (page.next === undefined) break;
      }
    }
    const listSeconds = (performance.now() - listStart) / 1000;
    if (listed !== members * reads) throw new Error(`presence listed ${listed} entries, expected ${members * reads}`);

    const pairs = quick ? 1000 : 10_000;
    const churn = `${group}.churn`;
    const churnStart = performance.now();
    // 100 at a time: with events on, each join goes to every member already in (a batch costs 100²/2 deliveries each way).
    for (let i = 0; i < pairs; i += 100) {
      const end = Math.min(pairs, i + 100);
      const adds: Promise<void>[] = [];
      for (let j = i; j < end; j++) adds.push(layer.groupAdd(churn, channel(j), { presence: { user: `u${j}` } }));
      await Promise.all(adds);
      const leaves: Promise<void>[] = [];
      for (let j = i; j < end; j++) leaves.push(layer.groupDiscard(churn, channel(j)));
      await Promise.all(leaves);
    }
    const churnSeconds = (performance.now() - churnStart) / 1000;
    await Promise.all(Array.from({ length: members }, (_, i) => layer.groupDiscard(group, channel(i))));
    return [
      { workload: "presence-list", n: listed, seconds: listSeconds, opsPerSec: listed / listSeconds, members, msPerWholeList: +((listSeconds * 1000) / reads).toFixed(2) },
      { workload: "presence-join-leave", n: 2 * pairs, seconds: churnSeconds, opsPerSec: (2 * pairs) / churnSeconds },
    ];
  } finally {
    await layer.close();
  }
}
