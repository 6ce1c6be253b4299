/**
 * Capabilities of the contract a backend may be unable to keep, and the
 * conformance cases that need each. A target names what it lacks, with the
 * reason (ConformanceTarget.lacks); every case needing it is then skipped,
 * its title saying which capability and why. One table, so that what a
 * backend does not keep is declared in one place and read in the test report.
 */
import { vitest } from "../vitest.js";
import { HISTORY_CASES } from "./history.js";
import { modelTitle } from "./model.js";

export type Capability =
  /** A message sent to a channel nobody listens on yet waits there (pub/sub delivers only to current subscribers). */
  | "storesForAbsentReceivers"
  /** Several instances receiving on one normal channel share its messages, each to one of them. */
  | "balancesAcrossInstances"
  /** Any instance can add any channel to a group and the channel's owner receives the group's messages. */
  | "sharedGroups"
  /** A send to a full channel rejects with ChannelFullError at the sender. */
  | "senderSeesCapacity"
  /** newChannel names are exactly `<prefix>.<instance>!<id>` (no backend prefix in front). */
  | "bareNewChannelNames"
  /** `groupHistory()` and positions in group messages (docs/recovery.md), with the suite's CONFORMANCE_GROUP_HISTORY. */
  | "groupHistory";

/** Case titles (exact) by the capability they need. */
export const NEEDS: Record<Capability, readonly string[]> = {
  storesForAbsentReceivers: [
    "accepts names up to 99 characters and the whole allowed alphabet",
    "round-trips every allowed value type",
    "gives the receiver a copy: changing the sent object afterwards changes nothing",
    "delivers messages in the order they were sent",
    "keeps order for sends issued without awaiting",
    "send never blocks waiting for a reader (docs/semantics.md §4.9)",
    "messages() iterates receives in order and ends when the layer closes",
    "instances share normal channels",
    "a message not received within expiry is gone",
    "receive never returns a message older than expiry, even one waiting alone",
    "a receive with an already aborted signal rejects and takes nothing",
    "receives cancelled at random moments lose and duplicate nothing",
    modelTitle(),
  ],
  balancesAcrossInstances: ["receivers in a loop share a stream without loss or duplicates"],
  sharedGroups: ["another instance can send to a ! channel and to its groups"],
  senderSeesCapacity: [
    "send to a full channel rejects with ChannelFullError and stores nothing",
    "counts a ! channel's capacity on its own name in the engine, and rejects when full",
    "channelCapacity globs and regexes set per-channel capacity, first match wins",
    "channelCapacity as a record of globs",
  ],
  bareNewChannelNames: ["newChannel makes unique process-local names from a prefix"],
  groupHistory: HISTORY_CASES,
};

type CaseFn = () => Promise<void> | void;
export interface CaseRegistrar {
  (title: string, fn: CaseFn, timeout?: number): void;
  runIf(condition: boolean): (title: string, fn: CaseFn) => void;
  /** A case that fails when a declared capability names a case the suite does not have (register it last). */
  checkAllFound(): void;
}

/** `it` for a target: runs a case, or skips it with the reason when it needs a capability the target lacks. */
export function casesFor(lacks: Partial<Record<Capability, string>> | undefined, needs: Partial<Record<Capability, readonly string[]>> = NEEDS): CaseRegistrar {
  const vitestIt = vitest("describeChannelLayer").it;
  const skipped = new Map<string, string>();
  for (const [capability, reason] of Object.entries(lacks ?? {}) as Array<[Capability, string]>) {
    for (const title of needs[capability] ?? []) skipped.set(title, `${capability}: ${reason}`);
  }
  const unseen = new Set(skipped.keys());
  const register = (title: string, fn: CaseFn, timeout?: number): void => {
    unseen.delete(title);
    const why = skipped.get(title);
    if (why === undefined) vitestIt(title, fn, timeout);
    else vitestIt.skip(`${title} [skipped, lacks ${why}]`, fn);
  };
  return Object.assign(register, {
    runIf: (condition: boolean) => (title: string, fn: CaseFn) => (condition ? register(title, fn) : (unseen.delete(title), vitestIt.skip(title, fn))),
    checkAllFound: () =>
      vitestIt("every case a lacking capability skips exists", () => {
        if (unseen.size > 0) throw new Error(`capabilities name cases the suite does not have: ${[...unseen].join("; ")}`);
      }),
  });
}
