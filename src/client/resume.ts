/**
 * Resuming a group (docs/recovery.md, "Resuming"): join, then read what was
 * missed, then drop the live copies that read already gave. The order is the
 * whole trick: joined first, every message after the read arrives live; read
 * second, every message before the join is in the history; the live copies
 * of the overlap carry positions the read already covered.
 */
import type { ChannelLayer, GroupHistory, HistoryPosition, Message } from "../layer.js";
import { positionOf } from "../options/history.js";

export interface GroupResume extends GroupHistory {
  /**
   * Whether a live message of the group is new to this reader: false for a
   * copy the history read already returned (same epoch, offset at or before
   * the read's position). Call it on each message received on the channel,
   * and update nothing else: it keeps no state of its own.
   */
  isNew(message: Message): boolean;
}

/**
 * Add `channel` to `group`, then read its history after `since` (the last
 * position this reader saw; without it, the latest `limit` messages, as a
 * first load). `recovered: false` with a `since` means messages were missed
 * for good: resync the app's state, then carry on from `position`.
 */
export async function resumeGroup(
  layer: ChannelLayer,
  group: string,
  channel: string,
  since: HistoryPosition | undefined,
  options: { limit?: number } = {},
): Promise<GroupResume> {
  if (layer.groupHistory === undefined) throw new TypeError("resumeGroup needs a layer with groupHistory() (docs/recovery.md)");
  await layer.groupAdd(group, channel);
  // With the channel, a message sent with it in `except` is left out of the replay as it was of the live delivery.
  const read = await layer.groupHistory(group, { since, limit: options.limit, channel });
  const { epoch, offset } = read.position;
  return {
    ...read,
    isNew(message: Message): boolean {
      const p = positionOf(message);
      return p === undefined || p.epoch !== epoch || p.offset > offset;
    },
  };
}
