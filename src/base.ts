/**
 * What every backend shares: argument checks, the closed state, and the rule
 * that every method reports problems by rejecting, never by throwing
 * synchronously (docs/semantics.md §3.2). A backend implements the protected `do*` methods,
 * which see only valid names and an already copied, size-checked message.
 */
import { InvalidChannelNameError, LayerClosedError } from "./errors.js";
import type { ChannelLayer, Extension, LayerOptions, Message, ReceiveOptions, SendOptions } from "./layer.js";
import { copyMessage, type CopyOptions } from "./message.js";
import { encodeMessage } from "./msgpack.js";
import { assertChannelName, assertGroupName, isProcessLocal, makeChannelName, ownsChannel, uniqueId } from "./names.js";
import { resolveOptions, type ResolvedOptions } from "./options.js";
import { assertPriority } from "./traffic.js";

export const DONE: Promise<void> = Promise.resolve();

export abstract class BaseLayer implements ChannelLayer {
  abstract readonly extensions: readonly Extension[];
  /** Fixed for the life of this instance; the middle part of its `newChannel` names. */
  readonly instanceId: string = uniqueId();
  protected readonly config: ResolvedOptions;
  private closing: Promise<void> | undefined;
  /** Whether integers past 32 bits are copied as bigints (backends that encode to msgpack). */
  protected readonly wideInts: boolean = false;

  constructor(options: LayerOptions = {}) {
    this.config = resolveOptions(options);
  }

  protected get closed(): boolean {
    return this.closing !== undefined;
  }

  /** `priority` is undefined when the caller gave none (the channel's default applies). */
  protected abstract doSend(channel: string, message: Message, priority: number | undefined): Promise<void>;
  protected abstract doReceive(channel: string, signal: AbortSignal | undefined): Promise<Message>;
  protected abstract doGroupAdd(group: string, channel: string): Promise<void>;
  protected abstract doGroupDiscard(group: string, channel: string): Promise<void>;
  protected abstract doGroupSend(group: string, message: Message, priority: number | undefined): Promise<void>;
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
      this.assertOpen();
      assertChannelName(channel);
      if (isProcessLocal(channel) && !ownsChannel(channel, this.instanceId)) {
        throw new InvalidChannelNameError(
          `channel "${channel}" is process-local to another layer instance (this one is "${this.instanceId}"): ` +
            "only the instance that made it with newChannel() can receive from it",
        );
      }
      const signal = options?.signal;
      if (signal?.aborted) return Promise.reject(signal.reason);
      return this.doReceive(channel, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async *messages(channel: string, options?: ReceiveOptions): AsyncIterableIterator<Message> {
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

  groupAdd(group: string, channel: string): Promise<void> {
    try {
      this.assertOpen();
      assertGroupName(group);
      assertChannelName(channel);
      return this.doGroupAdd(group, channel);
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

  groupSend(group: string, message: Message, options?: SendOptions): Promise<void> {
    try {
      this.assertOpen();
      assertGroupName(group);
      const priority = this.priorityOf(options);
      return this.doGroupSend(group, this.prepare(message), priority);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  flush(): Promise<void> {
    if (this.closing) return Promise.reject(new LayerClosedError());
    return this.doFlush();
  }

  /** Idempotent: a second call returns the first call's promise. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }
}
