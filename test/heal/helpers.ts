/** Watching a layer's "state" and "gap" events, and waiting for group sends to arrive again. */
import type { ChannelLayer, LayerGap, LayerState } from "../../src/index.js";
import { sleep } from "../conformance/helpers.js";

export interface Watched {
  states: LayerState[];
  gaps: LayerGap[];
}

export function watch(layer: ChannelLayer): Watched {
  const seen: Watched = { states: [layer.state!], gaps: [] };
  layer.on!("state", (state) => seen.states.push(state));
  layer.on!("gap", (gap) => seen.gaps.push(gap));
  return seen;
}

/**
 * Group-send `group` every 100 ms until `member` (a channel of `receiver`)
 * gets one, or `ms` pass; resolves with the milliseconds it took.
 */
export async function groupSendsArrive(sender: ChannelLayer, receiver: ChannelLayer, group: string, member: string, ms: number): Promise<number> {
  const start = Date.now();
  const stop = new AbortController();
  const got = receiver.receive(member, { signal: stop.signal }).then(
    () => true,
    () => false,
  );
  let arrived = false;
  void got.then((ok) => (arrived = ok));
  try {
    while (!arrived) {
      if (Date.now() - start > ms) throw new Error(`group sends to "${group}" did not reach its member within ${ms} ms`);
      await sender.groupSend(group, { type: "probe" }).catch(() => {}); // the sender may itself still be reconnecting
      await sleep(100);
    }
  } finally {
    stop.abort();
    await got;
  }
  return Date.now() - start;
}
