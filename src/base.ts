/**
 * What every backend shares: argument checks, the closed state, and the rule
 * that every method reports problems by rejecting, never by throwing
 * synchronously (docs/semantics.md §3.2). A backend implements the protected `do*` methods,
 * which see only valid names and an already copied, size-checked message.
 */
import { EventEmitter } from "eventemitter3";
import { InvalidChannelNameError, LayerClosedError, NoGroupHistoryError } from "./errors.js";
import type {
  ChannelLayer,
  Extension,
  GapReason,
  GroupHistory,
  GroupHistoryReadOptions,
  HistoryPosition,
  GroupAddOptions,
  LayerEvents,
  LayerOptions,
  LayerState,
  Message,
  PresenceInfo,
  ReceiveOptions,
  RequestOptions,
  GroupSendOptions,
  SendOptions,
} from "./layer.js";
import { checkSince, historyLimit } from "./options/history.js";
import { copyMessage, type CopyOptions } from "./message.js";
import { encodeMessage } from "./dependencies/msgpack.js";
import { assertChannelName, assertGroupName, assertOwnChannel, makeChannelName, uniqueId } from "./names.js";
import { resolveOptions, type ResolvedOptions } from "./options/layer-options.js";
import { copyPresenceInfo } from "./options/presence.js";
import { assertPriority } from "./options/traffic.js";
import { MemoryReplyCache, type ReplyCache } from "./request/cache.js";
import { Requester } from "./request/request.js";
import type { RequestCounters } from "./stats.js";

export const DONE: Promise<void> = Promise.resolve();

/** The channels a group send leaves out, each checked as a channel name; undefined when none. */
function exceptOf(options: GroupSendOptions | undefined): ReadonlySet<string> | undefined {
  const except = options?.except;
  if (except === undefined) return undefined;
  const names = typeof except === "string" ? [except] : except;
  if (!Array.isArray(names)) throw new TypeError(`except must be a channel name or an array of them, got ${typeof except}`);
  for (const name of names) assertChannelName(name, "except channel name");
  return names.length === 0 ? undefined : new Set(names);
}

export abstract class BaseLayer extends EventEmitter<LayerEvents> implements ChannelLayer {
  abstract readonly extensions: readonly Extension[];
  private current: LayerState;
  /** Fixed for the life of this instance; the middle part of its `newChannel` names. */
  readonly instanceId: string;
  protected readonly config: ResolvedOptions;
  private closing: Promise<void> | undefined;
  /** Whether integers past 32 bits are copied as bigints (backends that encode to msgpack). */
  protected readonly wideInts: boolean = false;

  /**
   * @param initial "connecting" for remote backends; in-memory ones start "ready".
   * @param instanceId a backend whose ids must be proven (the broker's) brings its own.
   */
  constructor(options: LayerOptions = {}, initial: LayerState = "ready", instanceId: string = uniqueId()) {
    super();
    this.instanceId = instanceId;
    this.config = resolveOptions(options);
    this.current = initial;
  }

  /** Where this layer stands with its backend (docs/semantics.md §5); every change is a "state" event. */
  get state(): LayerState {
    return this.current;
  }

  /** Move to `next` and say so; "closed" is final. */
  protected setState(next: LayerState): void {
    const previous = this.current;
    if (previous === next || previous === "closed") return;
    this.current = next;
    this.emit("state", next, previous);
  }

  /**
   * Resolves once the layer is "ready"; rejects with why it is not when it
   * goes "failed" (its backend unreachable past its connect timeout, or a
   * refusal such as a wrong token) or "closed".
   */
  whenReady(): Promise<void> {
    if (this.current === "ready") return DONE;
    if (this.current === "failed" || this.current === "closed") return Promise.reject(this.unavailable());
    return new Promise((resolve, reject) => {
      const onState = (state: LayerState): void => {
        if (state === "connecting" || state === "reconnecting") return;
        this.off("state", onState);
        if (state === "ready") resolve();
        else reject(this.unavailable());
      };
      this.on("state", onState);
    });
  }

  /** Why calls fail now; a remote backend names its address and what went wrong. */
  protected unavailable(): Error {
    return new LayerClosedError();
  }

  /** Tell the app it may have missed messages; call it once what the layer owns is restored. */
  protected reportGap(reason: GapReason): void {
    if (this.current !== "closed") this.emit("gap", { reason, at: Date.now() });
  }

  protected get closed(): boolean {
    return this.closing !== undefined;
  }

  /** `priority` is undefined when the caller gave none (the channel's default applies). */
  protected abstract doSend(channel: string, message: Message, priority: number | undefined): Promise<void>;
  protected abstract doReceive(channel: string, signal: AbortSignal | undefined): Promise<Message>;
  /** `presence`: the checked copy of the member's info, when the membership is a presence entry. */
  protected abstract doGroupAdd(group: string, channel: string, presence: PresenceInfo | undefined): Promise<void>;
  /** Whether this backend keeps presence (docs/presence.md); the others reject a groupAdd with `presence`, never drop it. */
  protected readonly keepsPresence: boolean = false;
  protected abstract doGroupDiscard(group: string, channel: string): Promise<void>;
  /** `except` is undefined when no member is left out (docs/semantics.md §9). */
  protected abstract doGroupSend(
    group: string,
    message: Message,
    priority: number | undefined,
    except: ReadonlySet<string> | undefined,
  ): Promise<void>;
  protected abstract doFlush(): Promise<void>;
  protected abstract doClose(): Promise<void>;

  private copyOptions: CopyOptions | undefined;

  /** Validate, copy and size-check a message as every send must. */
  protected prepare(message: Message): Message {
    this.copyOptions ??= { wideInts: this.wideInts, maxBytes: this.config.maxMessageBytes, encode: encodeMessage };
    return copyMessage(message, this.copyOptions);
  }

  private assertOpen(): void {
    if (this.closing) throw new LayerClosedError();
  }

  private priorityOf(options: SendOptions | undefined): number | undefined {
    const priority = options?.priority;
    if (priority === undefined) return undefined;
    assertPriority(priority);
    if (!this.extensions.includes("priority")) {
      throw new RangeError(`this backend does not honour priorities (extensions: ${this.extensions.join(", ")}); send without one`);
    }
    return priority;
  }

  send(channel: string, message: Message, options?: SendOptions): Promise<void> {
    try {
      this.assertOpen();
      assertChannelName(channel);
      const priority = this.priorityOf(options);
      return this.doSend(channel, this.prepare(message), priority);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  receive(channel: string, options?: ReceiveOptions): Promise<Message> {
    try {
      this.checkReceive(channel);
      const signal = options?.signal;
      if (signal?.aborted) return Promise.reject(signal.reason);
      return this.doReceive(channel, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** What every receive checks first: the layer is open, and `channel` is a name this instance may receive from. */
  protected checkReceive(channel: string): void {
    this.assertOpen();
    assertChannelName(channel);
    assertOwnChannel(channel, this.instanceId);
  }

  /**
   * Receive in a loop (docs/semantics.md §4.11): ends (done) when the layer closes while
   * it waits; an iteration started after close() rejects with
   * LayerClosedError, like every other call.
   */
  async *messages(channel: string, options?: ReceiveOptions): AsyncIterableIterator<Message> {
    if (this.closing) throw new LayerClosedError();
    for (;;) {
      let message: Message;
      try {
        message = await this.receive(channel, options);
      } catch (err) {
        if (err instanceof LayerClosedError) return;
        throw err;
      }
      yield message;
    }
  }

  newChannel(prefix = "specific"): Promise<string> {
    try {
      this.assertOpen();
      assertGroupName(prefix); // a prefix follows the group rule: no "!"
      const name = makeChannelName(prefix, this.instanceId);
      assertChannelName(name, "newChannel name (prefix too long?)");
      return Promise.resolve(name);
    } catch (err) {
      return Promise.reject(err instanceof TypeError && !(err instanceof InvalidChannelNameError)
        ? new InvalidChannelNameError(`newChannel prefix: ${err.message}`)
        : err);
    }
  }

  groupAdd(group: string, channel: string, options?: GroupAddOptions): Promise<void> {
    try {
      this.assertOpen();
      assertGroupName(group);
      assertChannelName(channel);
      const info = options?.presence;
      if (info === undefined) return this.doGroupAdd(group, channel, undefined);
      if (!this.keepsPresence) throw new TypeError(`groupAdd with presence: this backend does not keep presence (docs/presence.md); add without it`);
      this.copyOptions ??= { wideInts: this.wideInts, maxBytes: this.config.maxMessageBytes, encode: encodeMessage };
      return this.doGroupAdd(group, channel, copyPresenceInfo(group, channel, info, this.copyOptions));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** What presence() and presenceCount() check first: the layer is open and `group` is a group name. */
  protected readPresence<R>(group: string, read: () => Promise<R>): Promise<R> {
    try {
      this.assertOpen();
      assertGroupName(group);
      return read();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  groupDiscard(group: string, channel: string): Promise<void> {
    try {
      this.assertOpen();
      assertGroupName(group);
      assertChannelName(channel);
      return this.doGroupDiscard(group, channel);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  groupSend(group: string, message: Message, options?: GroupSendOptions): Promise<void> {
    try {
      this.assertOpen();
      assertGroupName(group);
      const priority = this.priorityOf(options);
      const except = exceptOf(options);
      return this.doGroupSend(group, this.prepare(message), priority, except);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** What is kept of `group`'s history (docs/recovery.md): all of it after `since`, or `recovered: false` and none. */
  groupHistory(group: string, options: GroupHistoryReadOptions = {}): Promise<GroupHistory> {
    try {
      this.assertOpen();
      assertGroupName(group);
      const channel = options.channel;
      if (channel !== undefined) assertChannelName(channel, "groupHistory channel");
      return this.doGroupHistory(group, checkSince(options.since), historyLimit(options.limit), channel);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** `limit` is a positive integer or Infinity; `channel` the reader's (checked). A backend that keeps history overrides this. */
  protected doGroupHistory(group: string, since: HistoryPosition | undefined, limit: number, channel: string | undefined): Promise<GroupHistory> {
    void since;
    void limit;
    void channel;
    return Promise.reject(new NoGroupHistoryError(`this backend keeps no group history (asked for ${JSON.stringify(group)})`));
  }

  private ownRequester: Requester | undefined;

  /** What serves `request()` for this layer: made on first use. */
  get requester(): Requester {
    return (this.ownRequester ??= new Requester(this, this.makeReplyCache()));
  }

  /** Where `request(…, { cacheFor })` keeps replies: in this process unless a backend shares one. */
  protected makeReplyCache(): ReplyCache {
    return new MemoryReplyCache();
  }

  /** Send `message` with a fresh `reply_channel` to a worker channel and resolve with its reply (docs/request.md). */
  request(channel: string, message: Message, options?: RequestOptions): Promise<Message> {
    if (this.closing) return Promise.reject(new LayerClosedError());
    return this.requester.request(channel, message, options);
  }

  /** What `request()` counted: replies, timeouts, late replies, cache hits and misses, coalesced calls. */
  get requestCounters(): Readonly<RequestCounters> {
    return this.requester.counters;
  }

  flush(): Promise<void> {
    if (this.closing) return Promise.reject(new LayerClosedError());
    return this.doFlush();
  }

  /** Idempotent: a second call returns the first call's promise. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.ownRequester?.close();
      this.closing = this.doClose();
      this.setState("closed");
    }
    return this.closing;
  }
}
