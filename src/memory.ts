/**
 * InMemoryChannelLayer: the engine in this process. The embedded default and
 * the drop-in for tests; like Channels' own in-memory layer, two instances
 * share nothing.
 */
import { BaseLayer, DONE } from "./base.js";
import { CachedClock, engineClock, type ClockOption } from "./engine/clock.js";
import { Engine } from "./engine/engine.js";
import { PendingReceive } from "./client/pending-receive.js";
import { Sweeper } from "./engine/sweeper.js";
import { LayerClosedError } from "./errors.js";
import { POSITION_KEY } from "./options/history.js";
import type { Extension, GroupHistory, HistoryPosition, LayerOptions, Message, PresenceInfo, PresencePage, PresenceQuery } from "./layer.js";
import { cloneMessage, deadLetterMessage, shared } from "./message.js";
import { delayOption } from "./options/positive-option.js";
import { presenceEvent, presenceQuery, presenceRules } from "./options/presence.js";
import { later, NextWaiter, NO_WAIT, receiveNext, type NextMessageTarget, type NextMessageWait, type ReceivesNext } from "./client/receive-next.js";
import type { EngineLayerStats } from "./stats.js";

export interface InMemoryLayerOptions extends LayerOptions {
  /** Milliseconds from a fixed origin, or an object with `now()` (tests pass a `TestClock`). Default `performance.now`, cached per docs/semantics.md §4.5. */
  clock?: ClockOption;
  /** Milliseconds between sweeps that reclaim expired state. Default 1000. */
  sweepInterval?: number;
}

/** A receive waiting in the engine: a promise, or a consumer's request (src/client/receive-next.ts). */
type MemoryWaiter = PendingReceive<Message> | NextWaiter;

export class InMemoryChannelLayer extends BaseLayer implements ReceivesNext {
  readonly extensions: readonly Extension[] = ["groups", "flush", "priority"];
  private readonly engine: Engine<Message, MemoryWaiter, PresenceInfo>;
  protected override readonly keepsPresence = true;
  private readonly sweeper: Sweeper;

  constructor(options: InMemoryLayerOptions = {}) {
    super(options);
    const announces = presenceRules(options);
    this.engine = new Engine<Message, MemoryWaiter, PresenceInfo>({
      ...this.config,
      // Cached per docs/semantics.md §4.5: fresh each turn of the event loop and every 64 reads.
      clock: engineClock(options.clock, new CachedClock().now),
      // Each member gets its own copy: one receiver mutating its message never touches another's.
      fanout: cloneMessage,
      // A letter for a group member skipped as full holds a copy too: the group send's own object may
      // already be another member's message (docs/semantics.md §2.8). Letters are rare; the copy is cheap.
      deadLetter: (message, reason, channel, group) => deadLetterMessage(cloneMessage(message), reason, channel, group),
      // The message is the layer's own copy (prepare made it): the position goes straight in.
      // Frozen and branded (`shared`), so that the copies each member gets share it (cloneMessage).
      history: { rules: this.config.groupHistory, stamp: (message, position) => ((message[POSITION_KEY] = shared({ epoch: position.epoch, offset: position.offset })), message) },
      // The event holds a copy of the info: a receiver changing it never changes the entry.
      presenceEvents: announces.size === 0 ? undefined : {
        on: (group) => announces.match(group) === true,
        body: (type, group, channel, info) => cloneMessage(presenceEvent(type, group, channel, info)),
      },
    });
    this.sweeper = new Sweeper(this.engine, { intervalMs: delayOption(options.sweepInterval, "sweepInterval (ms)", 1000) });
  }

  /** Channels, queued messages, groups, members and counters of this layer: everything, exactly. */
  stats(): Promise<EngineLayerStats> {
    if (this.closed) return Promise.reject(new LayerClosedError());
    return Promise.resolve({ backend: "memory", scope: "layer", ...this.engine.stats(), requests: this.requester.stats() });
  }

  protected doSend(channel: string, message: Message, priority: number | undefined): Promise<void> {
    this.engine.send(channel, message, priority);
    return DONE;
  }

  protected doReceive(channel: string, signal: AbortSignal | undefined): Promise<Message> {
    const message = this.engine.take(channel);
    if (message !== undefined) return Promise.resolve(message);
    return PendingReceive.wait<Message>(signal, (pending) => this.engine.wait(channel, pending));
  }

  /** A consumer's next message, straight from the engine: no promise, no signal (src/client/receive-next.ts). */
  [receiveNext](channel: string, target: NextMessageTarget): NextMessageWait {
    try {
      this.checkReceive(channel);
    } catch (err) {
      later(target, undefined, err);
      return NO_WAIT;
    }
    const message = this.engine.take(channel);
    if (message === undefined) return this.engine.wait(channel, new NextWaiter(target));
    later(target, message);
    return NO_WAIT;
  }

  protected doGroupAdd(group: string, channel: string, presence: PresenceInfo | undefined): Promise<void> {
    this.engine.groupAdd(group, channel, undefined, presence && { info: presence });
    return DONE;
  }

  /** A page of `group`'s presence entries, oldest first (docs/presence.md); each a copy. */
  presence(group: string, query?: PresenceQuery): Promise<PresencePage> {
    return this.readPresence(group, () => {
      const { limit, after } = presenceQuery(query);
      const page = this.engine.presencePage(group, after, limit);
      const entries = page.entries.map((r) => ({ channel: r.channel, info: cloneMessage(r.info as Message), since: r.since }));
      return Promise.resolve(page.next === undefined ? { entries } : { entries, next: String(page.next) });
    });
  }

  /** How many presence entries `group` has: O(1). */
  presenceCount(group: string): Promise<number> {
    return this.readPresence(group, () => Promise.resolve(this.engine.presenceCount(group)));
  }

  protected doGroupDiscard(group: string, channel: string): Promise<void> {
    this.engine.groupDiscard(group, channel);
    return DONE;
  }

  protected doGroupSend(group: string, message: Message, priority: number | undefined, except: ReadonlySet<string> | undefined): Promise<void> {
    this.engine.groupSend(group, message, priority, except);
    return DONE;
  }

  protected override doGroupHistory(group: string, since: HistoryPosition | undefined, limit: number, channel: string | undefined): Promise<GroupHistory> {
    const read = this.engine.groupHistory(group, since, limit, Infinity, channel);
    // Copies: the kept messages are the history's own, whatever the caller does with these.
    return Promise.resolve({ ...read, messages: read.messages.map(({ position, message }) => ({ position, message: cloneMessage(message) })) });
  }

  protected doFlush(): Promise<void> {
    this.engine.flush();
    return DONE;
  }

  protected doClose(): Promise<void> {
    this.sweeper.close();
    for (const pending of this.engine.close()) pending.fail(new LayerClosedError("the channel layer was closed while this receive waited"));
    return DONE;
  }
}
