/**
 * One turn's share of a sliced group send (docs/security.md, "Work per turn
 * counts deliveries"): slices until the turn's deliveries or time are spent.
 */
import type { GroupDelivery } from "../engine/engine.js";
import { DELIVERIES_PER_TURN, FANOUT_TURN_MS } from "./limits.js";

/** Move `more` on for this turn; returns what is left of it, if anything. */
export function fanTurn(more: () => GroupDelivery): (() => GroupDelivery) | undefined {
  const until = performance.now() + FANOUT_TURN_MS;
  let done = 0;
  let next: (() => GroupDelivery) | undefined = more;
  do {
    const sent: GroupDelivery = next();
    done += sent.delivered + sent.skipped;
    next = sent.more;
  } while (next !== undefined && done < DELIVERIES_PER_TURN && performance.now() < until);
  return next;
}
