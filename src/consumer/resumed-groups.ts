/**
 * A consumer's resumed groups (docs/recovery.md, "Consumers and the
 * browser"): where the consumer stands in each group's history, the live
 * copies it drops because a history read already gave them, and the
 * re-reads after the layer had a gap or a group's history changed epoch.
 *
 * A live message names its group's history only by its epoch (positions are
 * `{ epoch, offset }`), and epochs are random per group: each read teaches
 * which epoch is which group's. A live message of an epoch no read taught is
 * either a resumed group's new epoch (its history was lost) or another
 * group's: every resumed group is read again to tell, once per epoch.
 */
import { positionOf } from "../options/history.js";
import type { ChannelLayer, GroupHistory, HistoryPosition, Message, PresenceInfo } from "../layer.js";
import { positiveOption } from "../options/positive-option.js";

export interface GroupResumeOptions {
  /**
   * The last position this consumer's client saw in the group: replay every
   * message after it. A WebSocket consumer takes it from its client by default.
   */
  since?: HistoryPosition;
  /** Most messages a resume replays; with more missed, it is `recovered: false`. Default 1000. */
  limit?: number;
  /** When nothing could be resumed (first connect, or `recovered: false`): how many of the latest messages kept to replay as a first load. Default 0. */
  load?: number;
  /** Join as a presence entry carrying this info (as `join(group, info)`). */
  presence?: PresenceInfo;
}

/** What one resume of a group came to: at `groupResume`, after a layer gap, or when the group's history changed epoch. */
export interface GroupResumed {
  group: string;
  /** Every message after the position resumed from was replayed. False: none was (or there was no position), and the app resyncs. */
  recovered: boolean;
  /** Where the consumer stands now: later live copies are delivered, earlier ones dropped. */
  position: HistoryPosition;
  /** How many messages are replayed after this (the missed ones, or the `load` latest). */
  replayed: number;
  /** The position resumed from; undefined on a first join. */
  since: HistoryPosition | undefined;
}

/** Where a message being handled stands: its group and position. */
export interface GroupPosition {
  group: string;
  position: HistoryPosition;
}

/** Groups one consumer may resume at once: each costs a read on every gap. */
export const MAX_RESUMED_GROUPS = 32;
const DEFAULT_LIMIT = 1000;
/** Epochs remembered (of resumed groups, and of others); forgotten in bulk past this. */
const MAX_EPOCHS = 1024;

/**
 * Which reads' results the consumer is told of: "always" (a resume it asked
 * for); "replay" (a re-read after a gap or a new epoch: when it replays or
 * fails to recover); "failure" (filling skipped offsets, part of the live
 * stream: only when it fails to recover).
 */
type Tell = "always" | "replay" | "failure";

interface Track {
  /** Where the consumer stands: the last position delivered or read. */
  last: HistoryPosition;
  limit: number;
  load: number;
}

export interface ResumedGroupsHooks {
  /** Hand a message to the consumer's handlers, tagged with its group and position (none for a plain one). */
  deliver(message: Message, at: GroupPosition | undefined): void | Promise<void>;
  /** A resume was decided, before its replay. */
  resumed(result: GroupResumed): void;
  /** A handler of a replayed message failed, or a re-read did. */
  report(error: unknown, message?: Message): void;
  /** After each replayed message: resolves when the next may be handled (the client took what was sent). */
  paced(): void | Promise<void>;
}

export class ResumedGroups {
  private readonly tracks = new Map<string, Track>();
  /** Epoch → the resumed group whose history it is. */
  private readonly epochs = new Map<string, string>();
  /** Epochs found to be no resumed group's. */
  private readonly others = new Set<string>();

  constructor(
    private readonly layer: ChannelLayer,
    /** The consumer's channel: reads leave out what was sent with it in `except`, as its live delivery did. */
    private readonly channel: string,
    private readonly hooks: ResumedGroupsHooks,
  ) {}

  /** Whether any group is resumed (none: live messages go straight to the handlers). */
  get active(): boolean {
    return this.tracks.size > 0;
  }

  /**
   * Check a resume of `group` (a TypeError or RangeError, before anything is
   * joined), and return what reads its history after `since` and replays it,
   * to run once the consumer has joined the group.
   */
  prepare(group: string, options: GroupResumeOptions): () => Promise<GroupResumed> {
    if (this.layer.groupHistory === undefined) throw new TypeError("groupResume needs a layer with groupHistory() (docs/recovery.md)");
    const limit = positiveOption(options.limit, "groupResume limit", DEFAULT_LIMIT, true);
    const load = options.load === 0 ? 0 : positiveOption(options.load, "groupResume load", 0, true);
    if (!this.tracks.has(group) && this.tracks.size >= MAX_RESUMED_GROUPS) {
      throw new RangeError(`a consumer resumes at most ${MAX_RESUMED_GROUPS} groups; discard one before resuming ${JSON.stringify(group)}`);
    }
    return () => this.read(group, options.since, limit, load, "always");
  }

  /** `group` was discarded: its live copies are plain messages again. */
  forget(group: string): void {
    this.tracks.delete(group);
  }

  /** A live message from the layer: dropped when a read gave it already, else delivered with its position. */
  live(message: Message): void | Promise<void> {
    const p = positionOf(message);
    if (p === undefined || this.others.has(p.epoch)) return this.hooks.deliver(message, undefined);
    const group = this.epochs.get(p.epoch);
    if (group !== undefined) return this.ordered(message, group, p);
    return this.unknownEpoch(message, p);
  }

  /** The layer may have lost messages: read every resumed group again from where the consumer stands. */
  async gap(): Promise<void> {
    for (const [group, t] of [...this.tracks]) await this.reread(group, t);
  }

  private ordered(message: Message, group: string, p: HistoryPosition): void | Promise<void> {
    const t = this.tracks.get(group);
    if (t === undefined) return this.hooks.deliver(message, undefined);
    // An earlier epoch of the group (told `recovered: false` already), or a copy a read gave: both were dealt with.
    if (p.epoch !== t.last.epoch || p.offset <= t.last.offset) return;
    // Offsets skipped: on Redis a later send's copy can arrive before an earlier one's (the offset is
    // recorded in one call, the copies pushed in another), or the skipped send left this channel out.
    // Delivering it now would drop the earlier copy as "already given": read what lies between first.
    if (p.offset > t.last.offset + 1) return this.fillGap(message, group, t, p);
    t.last = p;
    return this.hooks.deliver(message, { group, position: p });
  }

  /**
   * Read the history after where the consumer stands and replay it, before
   * `message` (past it). The read was made after `p` was recorded, so it
   * reaches `p` and the live copy is dropped as a duplicate; the earlier
   * copies still on their way are dropped when they come. The consumer's
   * queue runs one message at a time, so one read at most is in flight.
   */
  private async fillGap(message: Message, group: string, t: Track, p: HistoryPosition): Promise<void> {
    await this.reread(group, t, "failure");
    const now = this.tracks.get(group);
    // A failed read (told `recovered: false` already), or one that somehow stopped short: go on from `p`.
    if (now === undefined || p.epoch !== now.last.epoch || p.offset <= now.last.offset) return;
    now.last = p;
    return this.hooks.deliver(message, { group, position: p });
  }

  private async unknownEpoch(message: Message, p: HistoryPosition): Promise<void> {
    for (const [group, t] of [...this.tracks]) await this.reread(group, t);
    const group = this.epochs.get(p.epoch);
    if (group !== undefined) return this.ordered(message, group, p);
    if (this.others.size >= MAX_EPOCHS) this.others.clear();
    this.others.add(p.epoch);
    return this.hooks.deliver(message, undefined);
  }

  /** Read again after a gap, an epoch change or skipped offsets; a failed read is reported and the group told `recovered: false` at the same position. */
  private async reread(group: string, t: Track, tell: Tell = "replay"): Promise<void> {
    try {
      await this.read(group, t.last, t.limit, t.load, tell);
    } catch (err) {
      if (this.tracks.get(group) !== t) return;
      this.hooks.report(err);
      this.hooks.resumed({ group, recovered: false, position: t.last, replayed: 0, since: t.last });
    }
  }

  /**
   * Join first (the caller did), read second: every message after the read
   * arrives live, every one before it is in the read, and live copies up to
   * the read's position are dropped. `tell` says which results the
   * consumer is told of (see Tell).
   */
  private async read(group: string, since: HistoryPosition | undefined, limit: number, load: number, tell: Tell): Promise<GroupResumed> {
    const history = (options: { since?: HistoryPosition; limit: number }): Promise<GroupHistory> =>
      this.layer.groupHistory!(group, { ...options, channel: this.channel });
    let read = await history(since === undefined ? { limit: Math.max(load, 1) } : { since, limit });
    const recovered = since !== undefined && read.recovered;
    let replay: GroupHistory["messages"] = [];
    if (recovered) replay = read.messages;
    else if (load > 0 && since === undefined) replay = read.messages;
    else if (load > 0) replay = (read = await history({ limit: load })).messages;
    const previous = this.tracks.get(group);
    // A re-read meets messages the live path delivered meanwhile: replay only what is past where the consumer stands.
    if (previous !== undefined && recovered && previous.last.epoch === read.position.epoch) replay = replay.filter(({ position }) => position.offset > previous.last.offset);
    this.tracks.set(group, { last: read.position, limit, load });
    if (this.epochs.size >= MAX_EPOCHS) this.epochs.clear();
    this.epochs.set(read.position.epoch, group);
    this.others.delete(read.position.epoch);
    const result: GroupResumed = { group, recovered, position: read.position, replayed: replay.length, since };
    if (tell === "always" || !recovered || (tell === "replay" && replay.length > 0)) this.hooks.resumed(result);
    for (const { message, position } of replay) {
      try {
        await this.hooks.deliver(message, { group, position });
      } catch (err) {
        this.hooks.report(err, message);
      }
      // A replay is up to `limit` messages at once, far more than live traffic brings in one turn: written
      // without waiting, it would fill the socket faster than any network takes it.
      await this.hooks.paced();
    }
    return result;
  }
}
