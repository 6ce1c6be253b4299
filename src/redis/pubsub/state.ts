/**
 * Connection state and its events (SPEC §5) for the pub/sub layer, in the
 * shape every layer is getting (`state`, "state" (state, previous), "gap"
 * ({ reason, at })). Kept in this one small class so that, once the shared
 * BaseLayer carries the same emitter, the layer extends BaseLayer directly
 * and this file goes away; nothing else in the layer depends on it.
 */
import { EventEmitter } from "eventemitter3";
import { BaseLayer } from "../../base.js";
import type { LayerOptions } from "../../layer.js";

export type LayerState = "connecting" | "ready" | "reconnecting" | "failed" | "closed";
export type GapReason = "broker-restarted" | "redis-restarted" | "grace-expired";

/** Messages may have been lost while the layer was away; what it owns is restored by now. */
export interface LayerGap {
  reason: GapReason;
  /** When the layer found out, in milliseconds since the epoch. */
  at: number;
}

export interface LayerEvents {
  state: (state: LayerState, previous: LayerState) => void;
  gap: (gap: LayerGap) => void;
}

export abstract class StatefulLayer extends BaseLayer {
  private readonly events = new EventEmitter<LayerEvents>();
  private current: LayerState;

  constructor(options: LayerOptions, initial: LayerState) {
    super(options);
    this.current = initial;
  }

  get state(): LayerState {
    return this.current;
  }

  on<E extends keyof LayerEvents>(event: E, listener: EventEmitter.EventListener<LayerEvents, E>): this {
    this.events.on(event, listener);
    return this;
  }

  once<E extends keyof LayerEvents>(event: E, listener: EventEmitter.EventListener<LayerEvents, E>): this {
    this.events.once(event, listener);
    return this;
  }

  off<E extends keyof LayerEvents>(event: E, listener?: EventEmitter.EventListener<LayerEvents, E>): this {
    this.events.off(event, listener);
    return this;
  }

  /** Move to `next` and say so; "closed" is final. */
  protected setState(next: LayerState): void {
    const previous = this.current;
    if (previous === next || previous === "closed") return;
    this.current = next;
    this.events.emit("state", next, previous);
  }

  /** Tell the app it may have missed messages; call it once what the layer owns is restored. */
  protected reportGap(reason: GapReason): void {
    if (this.current !== "closed") this.events.emit("gap", { reason, at: Date.now() });
  }

  override close(): Promise<void> {
    const closing = super.close();
    this.setState("closed");
    return closing;
  }
}
