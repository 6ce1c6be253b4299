/**
 * InMemoryChannelLayer: the engine in this process. The embedded default and
 * the drop-in for tests; like Channels' own in-memory layer, two instances
 * share nothing.
 */
import { BaseLayer, DONE } from "./base.js";
import { Engine, type Waiter } from "./engine/engine.js";
import { Sweeper } from "./engine/sweeper.js";
import { LayerClosedError } from "./errors.js";
import type { Extension, LayerOptions, Message } from "./layer.js";
import { cloneMessage, deadLetterMessage } from "./message.js";
import type { EngineLayerStats } from "./stats.js";

export interface InMemoryLayerOptions extends LayerOptions {
  /** Milliseconds from a fixed origin (tests pass a fake one). Default `performance.now`. */
  clock?: () => number;
  /** Milliseconds between sweeps that reclaim expired state. Default 1000. */
  sweepInterval?: number;
}

/** A receive waiting on the engine: settles its promise exactly once. */
class PendingReceive implements Waiter<Message> {
  constructor(
    readonly resolve: (message: Message) => void,
    readonly reject: (reason: unknown) => void,
    readonly signal: AbortSignal | undefined,
  ) {}
  onAbort: (() => void) | undefined;

  deliver(message: Message): boolean {
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
    this.resolve(message);
    return true;
  }

  fail(reason: unknown): void {
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
    this.reject(reason);
  }
}

export class InMemoryChannelLayer extends BaseLayer {
  readonly extensions: readonly Extension[] = ["groups", "flush", "priority"];
  private readonly engine: Engine<Message, PendingReceive>;
  private readonly sweeper: Sweeper;

  constructor(options: InMemoryLayerOptions = {}) {
    super(options);
    this.engine = new Engine<Message, PendingReceive>({
      ...this.config,
      clock: options.clock ?? (() => performance.now()),
      // Each member gets its own copy: one receiver mutating its message never touches another's.
      fanout: cloneMessage,
      deadLetter: deadLetterMessage,
    });
    this.sweeper = new Sweeper(this.engine, { intervalMs: options.sweepInterval });
  }

  /** Channels, queued messages, groups, members and counters of this layer: everything, exactly. */
  stats(): Promise<EngineLayerStats> {
    if (this.closed) return Promise.reject(new LayerClosedError());
    return Promise.resolve({ backend: "memory", scope: "layer", ...this.engine.stats() });
  }

  protected doSend(channel: string, message: Message, priority: number | undefined): Promise<void> {
    this.engine.send(channel, message, priority);
    return DONE;
  }

  protected doReceive(channel: string, signal: AbortSignal | undefined): Promise<Message> {
    const message = this.engine.take(channel);
    if (message !== undefined) return Promise.resolve(message);
    return new Promise<Message>((resolve, reject) => {
      const pending = new PendingReceive(resolve, reject, signal);
      const handle = this.engine.wait(channel, pending);
      if (signal) {
        pending.onAbort = () => {
          handle.cancel();
          reject(signal.reason);
        };
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
    });
  }

  protected doGroupAdd(group: string, channel: string): Promise<void> {
    this.engine.groupAdd(group, channel);
    return DONE;
  }

  protected doGroupDiscard(group: string, channel: string): Promise<void> {
    this.engine.groupDiscard(group, channel);
    return DONE;
  }

  protected doGroupSend(group: string, message: Message, priority: number | undefined): Promise<void> {
    this.engine.groupSend(group, message, priority);
    return DONE;
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
