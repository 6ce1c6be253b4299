/**
 * ConsumerCommunicator: run one `Consumer` against a layer and talk to it
 * through its own channel, as the rest of an app would, without a server.
 */
import type { ChannelLayer, Message } from "../layer.js";
import type { Consumer, ConsumerErrorContext, ConsumerErrorHook, ConsumerInit } from "../consumer/consumer.js";

export interface ConsumerCommunicatorOptions<I extends ConsumerInit> {
  layer: ChannelLayer;
  /** The rest of what the consumer's constructor takes; `layer` and `onError` are filled in. */
  init?: Omit<I, "layer" | "onError"> & { onError?: ConsumerInit["onError"] };
  /**
   * "raise" (default, as Channels' communicators raise the application's exception): a consumer
   * error rejects the next `send()` or `stop()`; "report": it is only kept in `errors` (and told
   * to `init.onError`), for tests that expect errors.
   */
  consumerErrors?: "raise" | "report";
}

export class ConsumerCommunicator<C extends Consumer, I extends ConsumerInit = ConsumerInit> {
  /** The consumer under test. */
  readonly consumer: C;
  /** Every error the consumer's error hook was told of, in order. */
  readonly errors: Array<{ error: unknown; context: ConsumerErrorContext }> = [];
  private readonly layer: ChannelLayer;
  /** Errors to raise, oldest first: each rejects one call. */
  private readonly unraised: unknown[] = [];

  constructor(ConsumerClass: new (init: I) => C, options: ConsumerCommunicatorOptions<I>) {
    this.layer = options.layer;
    const { onError, ...rest } = options.init ?? {};
    const raise = options.consumerErrors !== "report";
    const record: ConsumerErrorHook = (error, context) => {
      this.errors.push({ error, context });
      if (raise) this.unraised.push(error);
      onError?.(error, context);
    };
    this.consumer = new ConsumerClass({ ...rest, layer: options.layer, onError: record } as unknown as I);
  }

  /** The consumer's own channel; empty until `start()`. */
  get channelName(): string {
    return this.consumer.channelName;
  }

  /** Make the consumer's channel, join its groups and start it receiving. */
  start(): Promise<void> {
    return this.consumer.start();
  }

  /** Send `message` to the consumer's own channel through the layer. */
  async send(message: Message): Promise<void> {
    this.raise();
    if (this.consumer.channelName === "") throw new Error(`send(${JSON.stringify(message.type)}) before start(): the consumer has no channel yet`);
    await this.layer.send(this.consumer.channelName, message);
  }

  /** Stop the consumer and wait until it has left its groups; rejects with a consumer error not raised yet. */
  async stop(): Promise<void> {
    await this.consumer.stop();
    this.raise();
  }

  /** Throw the oldest consumer error not raised yet, if any. */
  private raise(): void {
    if (this.unraised.length > 0) throw this.unraised.shift();
  }
}
