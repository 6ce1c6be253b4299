/**
 * Consumer: what Channels' AsyncConsumer gives Django users. Each instance
 * receives from its own channel (`newChannel()`) in a loop and dispatches
 * every message by `type` to a handler method ("chat.message" →
 * `chat_message`), one message at a time, in order.
 */
import { ConnectionLostError, InvalidMessageError, LayerClosedError, NoHandlerError } from "../errors.js";
import type { ChannelLayer, LayerGap, Message, PresenceInfo, SendOptions } from "../layer.js";
import { nextMessage, type NextMessageTarget, type NextMessageWait } from "../client/receive-next.js";
import { handlerName, InvalidMessageTypeError } from "./handler-name.js";
import { ResumedGroups, type GroupPosition, type GroupResumed, type GroupResumeOptions } from "./resumed-groups.js";

/** Where a queued message came from: the socket or the app ("event"), the layer, or the layer's gap event. */
type MessageSource = "event" | "layer" | "gap";

/** What to do after a handler throws: keep consuming, or close the consumer. */
export type ErrorPolicy = "continue" | "close";

export interface ConsumerErrorContext {
  /** The consumer that met the error; absent when a connection failed before it had one. */
  consumer?: Consumer;
  /** The message being handled, when the error came from one. */
  message?: Message;
}

/** Told about every error a consumer meets; a consumer never fails silently. */
export type ConsumerErrorHook = (error: unknown, context: ConsumerErrorContext) => void;

export interface ConsumerOptions {
  /** Called with every handler error. Default: `console.error`. */
  onError?: ConsumerErrorHook;
  /** After a handler error: "continue" (default) or "close" the consumer. */
  handlerErrors?: ErrorPolicy;
}

export interface ConsumerInit extends ConsumerOptions {
  layer: ChannelLayer;
}

/**
 * Method names of the framework classes, by class. A message type naming one
 * of these (say "close" or "dispatch") would let any sender call consumer
 * internals, so it is refused rather than dispatched.
 */
const FRAMEWORK = new Map<object, Set<string>>([[Object.prototype, new Set(Object.getOwnPropertyNames(Object.prototype))]]);

/** Reserve the methods of a framework class, except those that are handlers. */
export function reserveMethods(proto: object, handlers: readonly string[] = []): void {
  FRAMEWORK.set(proto, new Set(Object.getOwnPropertyNames(proto).filter((n) => !handlers.includes(n))));
}

/** Every reserved name of the framework classes `proto` inherits from, computed once per class. */
const reservedCache = new WeakMap<object, Set<string>>();
function reservedNames(proto: object): Set<string> {
  let names = reservedCache.get(proto);
  if (names === undefined) {
    names = new Set();
    for (let p: object | null = proto; p !== null; p = Object.getPrototypeOf(p) as object | null) {
      for (const n of FRAMEWORK.get(p) ?? []) names.add(n);
    }
    reservedCache.set(proto, names);
  }
  return names;
}

export const defaultErrorHook: ConsumerErrorHook = (error, { consumer, message }) => {
  const where = message ? ` handling "${message.type}"` : "";
  // An unreachable backend is an outage, and a received body that is no message another client's doing
  // (no handler ran): neither is a bug in the app, so one line, no stack.
  if (error instanceof ConnectionLostError || (error instanceof InvalidMessageError && !message)) console.error(`[channel-layers] ${consumer?.constructor.name ?? "serve"}${where}: ${error.message}`);
  else console.error(`[channel-layers] ${consumer?.constructor.name ?? "serve"}${where}:`, error);
};

/**
 * Why a stopped consumer's pending receive ends. Made once: a DOMException captures a stack when
 * built, which cost more than the rest of stopping, and nobody sees it (the receive loop returns on
 * an aborted signal without reading the reason).
 */
const STOPPED = new DOMException("the consumer stopped", "AbortError");

export class Consumer {
  readonly layer: ChannelLayer;
  /** This consumer's own channel; set by `start()`. */
  channelName = "";
  /** Groups joined by `start()` and left by `stop()`, however the consumer ends. */
  groups: readonly string[] = [];
  #onError: ConsumerErrorHook;
  private readonly handlerErrors: ErrorPolicy;
  /** Every group this consumer is in, so `stop()` leaves them all. */
  private readonly joined = new Set<string>();
  /** Aborting it (and cancelling `#waiting`) takes the pending receive back; the layer keeps the message it would have returned. */
  private readonly abort = new AbortController();
  /** The request for the next layer message, while one is out. */
  #waiting: NextMessageWait | undefined = undefined;
  /**
   * Where the layer hands the next message. Private fields, not methods: a
   * message type names a handler, and must never name these.
   */
  readonly #target: NextMessageTarget = {
    message: (message) => this.#onMessage(message),
    failed: (error) => this.#onReceiveFailed(error),
  };
  /** `abort.signal`, read once: the getter is a brand check on every call. */
  readonly #signal = this.abort.signal;
  readonly #receiveNext = (): void => {
    if (this.stopping === undefined) this.#waiting = nextMessage(this.layer, this.channelName, this.#target, this.#signal);
  };
  /** Groups joined with `groupResume`, made on first use. */
  #resumed: ResumedGroups | undefined = undefined;
  /** The group and position of the resumed group's message being handled, if it is one. */
  #at: GroupPosition | undefined = undefined;
  /** Messages are handled one at a time: each waits for the one before. */
  private tail: Promise<void> = Promise.resolve();
  /** Messages queued or being handled; at 0 a layer message starts at once instead of behind `tail`. */
  private busy = 0;
  private stopping: Promise<void> | undefined;
  #markDone!: () => void;
  /** Resolves once the consumer has stopped and left its groups. */
  readonly done: Promise<void> = new Promise((resolve) => (this.#markDone = resolve));

  constructor(init: ConsumerInit) {
    this.layer = init.layer;
    this.#onError = init.onError ?? defaultErrorHook;
    this.handlerErrors = init.handlerErrors ?? "continue";
    if (this.handlerErrors !== "continue" && this.handlerErrors !== "close") {
      throw new RangeError(`handlerErrors must be "continue" or "close", got ${JSON.stringify(this.handlerErrors)}`);
    }
  }

  /**
   * The layer may have lost messages meant for this consumer (docs/semantics.md §5): a
   * "layer.gap" message goes through dispatch like any other, to a
   * `layer_gap` handler if there is one (resync: reload history, re-announce).
   */
  readonly #onGap = (gap: LayerGap): void => {
    if (!this.stopped) void this.#enqueue({ type: "layer.gap", reason: gap.reason, at: gap.at }, "gap");
  };

  /** Whether `stop()` has begun. */
  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  /** Make this consumer's channel, join `groups`, and start receiving. */
  async start(): Promise<void> {
    this.channelName = await this.layer.newChannel();
    this.layer.on?.("gap", this.#onGap);
    for (const group of this.groups) await this.groupAdd(group);
    this.#receiveNext();
  }

  /** Join `group` now; it is left again by `stop()`. A stopped consumer joins nothing. */
  async groupAdd(group: string): Promise<void> {
    if (this.stopped) return;
    this.joined.add(group);
    await this.layer.groupAdd(group, this.channelName);
  }

  /**
   * Join `group` as a presence entry carrying `info` (docs/presence.md): who is
   * here. Left, with its entry, by `groupDiscard(group)` or by `stop()` (the
   * WebSocket disconnecting); a stopped consumer joins nothing.
   */
  async join(group: string, info: PresenceInfo): Promise<void> {
    if (this.stopped) return;
    this.joined.add(group);
    await this.layer.groupAdd(group, this.channelName, { presence: info });
  }

  /**
   * Send to everyone in `group` but this consumer (Socket.IO's `socket.to(room).emit()`):
   * `groupSend` with `except: this.channelName` (docs/semantics.md §9).
   */
  groupSendOthers(group: string, message: Message, options?: SendOptions): Promise<void> {
    return this.layer.groupSend(group, message, { ...options, except: this.channelName });
  }

  /**
   * Join `group` and catch up on its history (docs/recovery.md, "Consumers
   * and the browser"): replay, through the handlers, every message after
   * `since`, then drop the live copies the replay already gave, so each
   * message is handled once and in order. Resolves with `recovered: false`
   * when that cannot be done (nothing is replayed then but the `load`
   * latest). After a layer gap, or when the group's history changes epoch,
   * the consumer reads again from where it stands: `resumed()` is told each
   * time. Call it from a handler or `connect()`, where nothing else runs.
   * The group stays joined if the read fails (`NoGroupHistoryError` when no
   * `groupHistory` pattern keeps it).
   */
  async groupResume(group: string, options: GroupResumeOptions = {}): Promise<GroupResumed | undefined> {
    if (this.stopped) return undefined;
    this.#resumed ??= new ResumedGroups(this.layer, this.channelName, {
      deliver: (message, at) => this.#dispatchAt(message, at),
      resumed: (result) => this.resumed(result),
      report: (error, message) => this.report(error, message),
      paced: () => this.replayPaced(),
    });
    const read = this.#resumed.prepare(group, options);
    if (options.presence !== undefined) await this.join(group, options.presence);
    else await this.groupAdd(group);
    return read();
  }

  /** A resume was decided (at `groupResume`, or again after a gap), before its replay: a WebSocket consumer tells its client here. */
  protected resumed(_result: GroupResumed): void {}

  /** Between two replayed messages: a WebSocket consumer waits here for its client to take what was sent. */
  protected replayPaced(): void | Promise<void> {}

  /** While a resumed group's message is handled (live or replayed): its group and position. */
  protected get groupPosition(): GroupPosition | undefined {
    return this.#at;
  }

  async groupDiscard(group: string): Promise<void> {
    this.#resumed?.forget(group);
    this.joined.delete(group);
    await this.layer.groupDiscard(group, this.channelName);
  }

  /**
   * The one place to act on every message before its handler (throttling,
   * logging): override it and call `super.dispatch(message)` to go on.
   */
  dispatch(message: Message): void | Promise<void> {
    const name = handlerName(message.type);
    if (reservedNames(Object.getPrototypeOf(this) as object).has(name)) {
      throw new InvalidMessageTypeError(
        `message type "${message.type}" names "${name}", a method of ${this.constructor.name} itself, not a handler`,
      );
    }
    const handler = (this as unknown as Record<string, unknown>)[name];
    if (typeof handler !== "function") {
      if (message.type === "layer.gap") return; // optional: a consumer with nothing to resync ignores it
      throw new NoHandlerError(message.type, this.constructor.name, `define a method named "${name}"`);
    }
    const result: unknown = (handler as (m: Message) => unknown).call(this, message);
    // A synchronous handler (forwarding to the socket, say) is done here: no promise, no turn of the microtask queue.
    if (result instanceof Promise) return result as Promise<void>;
  }

  /** Queue `message` behind the ones being handled; resolves once it is handled (or reported). */
  protected enqueue(message: Message): Promise<void> {
    return this.#enqueue(message, "event");
  }

  #enqueue(message: Message, from: MessageSource): Promise<void> {
    this.busy++;
    const run = (): Promise<void> | undefined => this.handle(message, from);
    this.tail = this.tail.then(run, run);
    return this.tail;
  }

  /** Dispatch a message with its group and position readable as `groupPosition` until its handler is done. */
  #dispatchAt(message: Message, at: GroupPosition | undefined): void | Promise<void> {
    this.#at = at;
    let result: void | Promise<void>;
    try {
      result = this.dispatch(message);
    } catch (err) {
      this.#at = undefined;
      throw err;
    }
    if (result === undefined) this.#at = undefined;
    else return Promise.resolve(result).finally(() => (this.#at = undefined));
  }

  /** A layer message goes through the resumed groups, when there are any; a gap has them read again first. */
  #route(message: Message, from: MessageSource): void | Promise<void> {
    const resumed = this.#resumed;
    if (from === "event" || resumed === undefined || !resumed.active) return this.dispatch(message);
    if (from === "layer") return resumed.live(message);
    return resumed.gap().then(() => this.dispatch(message));
  }

  /** Whether a message from the layer may be dispatched (a subclass refuses its reserved types). */
  protected checkLayerMessage(_message: Message): void {}

  /** Report an error through the hook; a throwing hook is itself reported to the console, never lost. */
  protected report(error: unknown, message?: Message): void {
    try {
      this.#onError(error, { consumer: this, ...(message ? { message } : {}) });
    } catch (hookError) {
      defaultErrorHook(hookError, { consumer: this });
    }
  }

  /** How this consumer ends after a handler error under the "close" policy. */
  protected closeAfterError(): Promise<void> {
    return this.stop();
  }

  /**
   * Dispatch `message` and report what it throws. Returns a promise only when
   * its handling goes on after this call; never throws, never rejects.
   */
  private handle(message: Message, from: MessageSource): Promise<void> | undefined {
    let result: void | Promise<void>;
    try {
      result = this.#route(message, from);
    } catch (err) {
      this.handlerFailed(err, message);
      return undefined;
    }
    if (result === undefined) {
      this.busy--;
      return undefined;
    }
    return Promise.resolve(result).then(
      () => {
        this.busy--;
      },
      (err: unknown) => this.handlerFailed(err, message),
    );
  }

  private handlerFailed(err: unknown, message: Message): void {
    this.busy--;
    this.report(err, message);
    if (this.handlerErrors === "close" && !this.stopped) {
      // Not awaited: closing waits on nothing queued behind this message.
      this.closeAfterError().catch((e: unknown) => this.report(e));
    }
  }

  /** The layer handed over the next message: handle it, then ask for the one after. */
  #onMessage(message: Message): void {
    this.#waiting = undefined;
    try {
      this.checkLayerMessage(message);
    } catch (err) {
      this.report(err, message);
      this.#receiveNext();
      return;
    }
    if (this.busy > 0) {
      // Socket events or a gap are queued: this message goes behind them.
      void this.#enqueue(message, "layer").then(this.#receiveNext);
      return;
    }
    // Nothing queued: handle it now. Most layer messages find the consumer idle. (Socket events and
    // gaps always queue: their handlers must not run inside the emitter that reported them.)
    this.busy++;
    const running = this.handle(message, "layer");
    if (running === undefined) this.#receiveNext();
    else void (this.tail = running).then(this.#receiveNext);
  }

  #onReceiveFailed(err: unknown): void {
    this.#waiting = undefined;
    if (this.#signal.aborted) return;
    if (err instanceof InvalidMessageError) {
      // One message that was no message (a peer sent bytes the broker passed on): the layer is fine, go on.
      this.report(err);
      this.#receiveNext();
      return;
    }
    // The layer went away under a live consumer: say so, and end it rather than spin.
    this.report(err);
    this.closeAfterError().catch((e: unknown) => this.report(e));
  }

  /**
   * Stop receiving and leave every group joined. Idempotent. Safe to call
   * from a handler: it waits for nothing queued.
   */
  stop(): Promise<void> {
    this.stopping ??= this.leave();
    return this.stopping;
  }

  private async leave(): Promise<void> {
    try {
      await this.leaveGroups();
    } finally {
      this.#markDone();
    }
  }

  private async leaveGroups(): Promise<void> {
    this.abort.abort(STOPPED);
    this.#waiting?.cancel();
    this.#waiting = undefined;
    this.layer.off?.("gap", this.#onGap);
    if (this.channelName === "") return;
    const groups = [...this.joined];
    this.joined.clear();
    const results = await Promise.allSettled(groups.map((g) => this.layer.groupDiscard(g, this.channelName)));
    for (const r of results) {
      // A closed layer has already forgotten every membership.
      if (r.status === "rejected" && !(r.reason instanceof LayerClosedError)) this.report(r.reason);
    }
  }
}

reserveMethods(Consumer.prototype);
