/**
 * A session's answers on their way out: everything answered in one tick
 * leaves in one write, encoded a slice of about WRITE_SLICE_BYTES at a time,
 * and what the client is owed (queued and unsent bytes) is known at every
 * moment, for the admission of its next requests (admission.ts).
 */
import { answer } from "./encode.js";
import { WRITE_SLICE_BYTES, wireEstimate } from "./limits.js";
import type { Link } from "./link.js";
import { Status } from "./ops.js";

export interface ReplyHooks {
  /** An answer of `bytes` (estimated) was queued. */
  onQueued(bytes: number): void;
  /** A write went out. */
  onWritten(): void;
  /** The answers could not be encoded or written: the session ends. */
  onWriteFailed(err: Error): void;
}

/** Estimated bytes one more receive adds to a bundle: its id and status. */
const BUNDLE_ENTRY_BYTES = 10;

/** The last message answer queued, which the next one for the same message may join. */
interface Run {
  frame: unknown[];
  /** The receive it answered first, and how (moved to the end of `frame` when it becomes a bundle). */
  id: number;
  status: number;
  body: Buffer;
  deadline: number;
  priority: number;
  /** Whether `frame` is a bundle already. */
  bundled: boolean;
}

export class Replies {
  /** Whether the client offered Feature.Bundles in its hello: answers handing over one message may then share a frame. */
  bundling = false;
  private out: unknown[] = [];
  private run: Run | undefined;
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

  /**
   * Queue a receive's answer handing over one message (`more`: the receive
   * stands). Where the client reads bundles (`bundling`) and the answer
   * queued just before handed over the same message (one group send reaching
   * several of this client's channels), it joins that answer as a bundle
   * (Status.Bundle): the body is written once, and no answer moves past another.
   */
  message(id: number, more: boolean, body: Buffer, deadline: number, priority: number): void {
    const status = more ? Status.Partial : Status.Ok;
    const last = this.run;
    if (last !== undefined && last.body === body && last.deadline === deadline && last.priority === priority && this.out[this.out.length - 1] === last.frame) {
      const frame = last.frame;
      if (!last.bundled) {
        answer.bundle(frame, last.id, last.status);
        last.bundled = true;
      }
      answer.alsoAnswers(frame, id, status);
      this.outBytes += BUNDLE_ENTRY_BYTES;
      this.hooks.onQueued(BUNDLE_ENTRY_BYTES);
      return;
    }
    const frame = answer.message(id, more, body, deadline, priority);
    this.send(frame);
    this.run = this.bundling ? { frame, id, status, body, deadline, priority, bundled: false } : undefined;
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
