/**
 * Background workers (Channels' `runworker`): N concurrent handlers on a
 * worker channel. Every worker on the channel, in this process or another,
 * shares its messages, each to exactly one handler.
 */
import { InvalidMessageError, LayerClosedError, NoHandlerError } from "../errors.js";
import type { ChannelLayer, Message } from "../layer.js";
import { assertChannelName } from "../names.js";
import { positiveOption } from "../options/positive-option.js";

export interface HandlerContext {
  layer: ChannelLayer;
  channel: string;
  /** Aborted when the worker is asked to stop; long handlers may honour it. */
  signal: AbortSignal;
  /**
   * Answer a `request()` now (docs/request.md): sends to the message's
   * `reply_channel`. A handler may instead return its reply. Without a
   * `reply_channel` (a plain send) it rejects with a TypeError.
   */
  reply(reply: Message): Promise<void>;
}

export type Handler = (message: Message, context: HandlerContext) => unknown;
/** One handler for every message, or one per message `type`. */
export type Handlers = Handler | Record<string, Handler>;

export interface WorkerOptions {
  /** Handlers running at once. Default 1. */
  concurrency?: number;
  /** Aborting it stops the worker gracefully, as `stop()` does. */
  signal?: AbortSignal;
  /** Told of every handler error and every message with no handler. Default: logged to stderr. */
  onError?: (error: unknown, message: Message) => void;
}

export interface Worker {
  /** Settles when every loop has ended (after a stop, or when the layer closes). */
  readonly done: Promise<void>;
  /** Stop taking messages, let in-flight handlers finish, then resolve. Messages not yet taken stay in the channel. */
  stop(): Promise<void>;
  /** Messages handled without error, and with one. */
  readonly processed: number;
  readonly failed: number;
}

function isMessage(value: unknown): value is Message {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

/** What a caller of `request()` gets when the handler failed: it rejects with RequestFailedError. */
function errorReply(err: unknown): Message {
  const code = (err as { code?: unknown } | null)?.code;
  return {
    type: "error",
    code: typeof code === "string" ? code : "ERR_HANDLER",
    message: err instanceof Error ? err.message : String(err),
  };
}

function defaultOnError(error: unknown, message: Message): void {
  console.error(`channel-layers worker: handler for "${message.type}" failed:`, error);
}

export function runWorker(layer: ChannelLayer, channel: string, handlers: Handlers, options: WorkerOptions = {}): Worker {
  assertChannelName(channel, "worker channel");
  const concurrency = positiveOption(options.concurrency, "concurrency", 1, true);
  const onError = options.onError ?? defaultOnError;
  const stopping = new AbortController();
  const byType = typeof handlers === "function" ? undefined : new Map(Object.entries(handlers));
  let processed = 0;
  let failed = 0;

  const handle = async (message: Message): Promise<void> => {
    const handler = byType ? byType.get(message.type) : (handlers as Handler);
    const replyTo = typeof message.reply_channel === "string" ? message.reply_channel : undefined;
    let replied = false;
    const reply = (answer: Message): Promise<void> => {
      if (replyTo === undefined) return Promise.reject(new TypeError(`message "${message.type}" has no reply_channel: it was sent, not requested`));
      if (replied) return Promise.reject(new TypeError(`message "${message.type}" was already answered: a request gets one reply`));
      replied = true;
      return layer.send(replyTo, answer).catch((err: unknown) => {
        // Not sent (a reply that is no message, too large, a full reply channel): the caller still gets the error reply below, not a timeout.
        replied = false;
        throw err;
      });
    };
    try {
      if (!handler) throw new NoHandlerError(message.type, `worker channel "${channel}"`, `handlers: ${[...byType!.keys()].join(", ") || "(none)"}`);
      const result = await handler(message, { layer, channel, signal: stopping.signal, reply });
      if (replyTo !== undefined && !replied && result !== undefined) {
        if (!isMessage(result)) throw new TypeError(`the handler for "${message.type}" returned ${typeof result}, not a message with a string \`type\`: return the reply, or nothing`);
        await reply(result);
      }
      processed++;
    } catch (err) {
      failed++;
      onError(err, message);
      if (replyTo !== undefined && !replied) await reply(errorReply(err)).catch((sendErr: unknown) => onError(sendErr, message));
    }
  };

  const loop = async (): Promise<void> => {
    while (!stopping.signal.aborted) {
      let message: Message;
      try {
        message = await layer.receive(channel, { signal: stopping.signal });
      } catch (err) {
        // A stop aborts the receive (its message stays in the channel); a closed layer ends the worker.
        if (stopping.signal.aborted || err instanceof LayerClosedError) return;
        // One body that was no message (a peer wrote bytes to the channel): there is no message to hand
        // onError, so one line says it; the channel is fine and the worker goes on.
        if (err instanceof InvalidMessageError) {
          failed++;
          console.error(`channel-layers worker on "${channel}": ${err.message}`);
          continue;
        }
        throw err;
      }
      await handle(message);
    }
  };

  const stop = (): Promise<void> => {
    stopping.abort();
    return done;
  };
  if (options.signal) {
    if (options.signal.aborted) stopping.abort();
    else options.signal.addEventListener("abort", () => stopping.abort(), { once: true });
  }
  const done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => undefined);

  return {
    done,
    stop,
    get processed() {
      return processed;
    },
    get failed() {
      return failed;
    },
  };
}
