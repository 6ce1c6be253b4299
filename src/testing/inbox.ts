/**
 * Frames the server sent, waiting for the test to take them in order, with a
 * deadline on every wait so a test that expects too much fails and says what
 * it was waiting for.
 */

export type Frame = string | Buffer;

interface Waiter {
  resolve(frame: Frame): void;
  reject(error: Error): void;
}

export class Inbox {
  private readonly frames: Frame[] = [];
  private readonly waiters: Waiter[] = [];
  /** Told of every arrival, for `receiveNothing`. */
  private readonly watchers = new Set<() => void>();
  private ended: string | undefined;
  /** Bytes sent and not yet taken: the in-memory socket's `bufferedAmount`. */
  bytes = 0;

  push(frame: Frame): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(frame);
    else {
      this.frames.push(frame);
      this.bytes += frame.length;
    }
    for (const watch of this.watchers) watch();
  }

  /** No more frames will come; waits fail with `why` once the queued frames are taken. */
  end(why: string): void {
    this.ended ??= why;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error(`${why}`));
  }

  /** Ends every wait now (the caller has something to raise instead): takes reject, `nothingWithin` resolves false. */
  interrupt(): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error("interrupted"));
    for (const watch of this.watchers) watch();
  }

  /** The next frame; rejects after `timeoutMs` saying what `what` awaited. */
  take(what: string, timeoutMs: number): Promise<Frame> {
    const frame = this.frames.shift();
    if (frame !== undefined) {
      this.bytes -= frame.length;
      return Promise.resolve(frame);
    }
    if (this.ended !== undefined) return Promise.reject(new Error(`${what}: ${this.ended} before a frame arrived`));
    return new Promise<Frame>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(new Error(`${what}: ${e.message} before a frame arrived`));
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${what}: no frame from the server within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Whether nothing is queued and nothing arrives within `timeoutMs`; a frame that came stays queued. */
  nothingWithin(timeoutMs: number): Promise<boolean> {
    if (this.frames.length > 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (nothing: boolean): void => {
        clearTimeout(timer);
        this.watchers.delete(arrived);
        resolve(nothing);
      };
      const arrived = (): void => done(false);
      const timer = setTimeout(() => done(true), timeoutMs);
      this.watchers.add(arrived);
    });
  }
}
