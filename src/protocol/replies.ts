/**
 * A session's answers on their way out: everything answered in one tick
 * leaves in one write, encoded a slice of about WRITE_SLICE_BYTES at a time,
 * and what the client is owed (queued and unsent bytes) is known at every
 * moment, for the admission of its next requests (admission.ts).
 */
import { WRITE_SLICE_BYTES, wireEstimate } from "./limits.js";
import type { Link } from "./link.js";

export interface ReplyHooks {
  /** An answer of `bytes` (estimated) was queued. */
  onQueued(bytes: number): void;
  /** A write went out. */
  onWritten(): void;
  /** The answers could not be encoded or written: the session ends. */
  onWriteFailed(err: Error): void;
}

export class Replies {
  private out: unknown[] = [];
  /** Estimated encoded bytes of `out`, counted as each answer is queued. */
  private outBytes = 0;
  private flushQueued = false;
  /** Set once the session ended: nothing more is written. */
  private stopped = false;

  constructor(
    private readonly link: Link,
    private readonly hooks: ReplyHooks,
  ) {}

  /** Bytes the client is owed: answers queued here and bytes the link has not written yet. */
  get owed(): number {
    return this.outBytes + (this.link.buffered ?? 0);
  }

  /** Queue an answer; `bytes`, its estimated size when the caller knows it. */
  send(frame: unknown[], bytes = wireEstimate(frame)): void {
    this.outBytes += bytes;
    this.hooks.onQueued(bytes);
    this.out.push(frame);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flush);
    }
  }

  /** Write what is queued now. A failure to encode or write ends this session, never the broker. */
  readonly flush = (): void => {
    this.flushQueued = false;
    if (this.out.length === 0 || this.stopped) return;
    const frames = this.out;
    const estimated = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    try {
      if (estimated <= WRITE_SLICE_BYTES) this.link.send(frames);
      else this.sendSliced(frames);
    } catch (err) {
      return this.hooks.onWriteFailed(err as Error);
    }
    this.hooks.onWritten();
  };

  /** Drop what is queued; nothing is written any more. */
  stop(): void {
    this.stopped = true;
    this.out = [];
    this.outBytes = 0;
  }

  private sendSliced(frames: unknown[]): void {
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < frames.length; i++) {
      bytes += wireEstimate(frames[i]);
      if (bytes >= WRITE_SLICE_BYTES || i === frames.length - 1) {
        this.link.send(frames.slice(from, i + 1));
        from = i + 1;
        bytes = 0;
      }
    }
  }
}
