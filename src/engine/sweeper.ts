/**
 * Runs `Engine.sweep` on a timer, in slices of a couple of milliseconds so
 * that reclaiming a million expired entries never stalls the event loop.
 * Its timers are unref'd (they never keep a process alive) and `close()`
 * clears them.
 */
import type { Engine } from "./engine.js";

export interface SweeperOptions {
  /** Milliseconds between sweeps. */
  intervalMs?: number;
  /** Longest a slice may hold the event loop, in milliseconds. */
  sliceMs?: number;
}

export class Sweeper {
  private interval: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly sliceMs: number;

  constructor(
    private readonly engine: Pick<Engine<unknown>, "sweep">,
    options: SweeperOptions = {},
  ) {
    this.sliceMs = options.sliceMs ?? 2;
    this.interval = setInterval(this.tick, options.intervalMs ?? 1000);
    this.interval.unref();
  }

  private readonly tick = (): void => {
    this.immediate = undefined;
    const start = performance.now();
    let more: boolean;
    do more = this.engine.sweep(256);
    while (more && performance.now() - start < this.sliceMs);
    if (more && this.interval) {
      this.immediate = setImmediate(this.tick);
      this.immediate.unref();
    }
  };

  close(): void {
    clearInterval(this.interval);
    if (this.immediate) clearImmediate(this.immediate);
    this.interval = this.immediate = undefined;
  }
}
