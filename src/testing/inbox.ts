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

  /** Waits for one particular frame (an ack's answer): served before, and apart from, the frames in line. */
  private readonly matchers: Array<Waiter & { match(frame: Frame): boolean }> = [];

  push(frame: Frame): void {
    const matcher = this.matchers.findIndex((m) => m.match(frame));
    if (matcher >= 0) {
      this.matchers.splice(matcher, 1)[0]!.resolve(frame);
      return;
    }
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
    for (const waiter of [...this.waiters.splice(0), ...this.matchers.splice(0)]) waiter.reject(new Error(`${why}`));
  }

  /** Ends every wait now (the caller has something to raise instead): takes reject, `nothingWithin` resolves false. */
  interrupt(): void {
    for (const waiter of [...this.waiters.splice(0), ...this.matchers.splice(0)]) waiter.reject(new Error("interrupted"));
    for (const watch of this.watchers) watch();
  }

  /** The next frame; rejects after `timeoutMs` saying what `what` awaited. */
  take(what: string, timeoutMs: number): Promise<Frame> {
    return this.wait(undefined, what, timeoutMs);
  }

  /** The first frame `match` accepts (an ack's answer), queued or still to come; the frames around it stay in line. */
  takeMatching(match: (frame: Frame) => boolean, what: string, timeoutMs: number): Promise<Frame> {
    return this.wait(match, what, timeoutMs);
  }

  private wait(match: ((frame: Frame) => boolean) | undefined, what: string, timeoutMs: number): Promise<Frame> {
    const i = match === undefined ? (this.frames.length > 0 ? 0 : -1) : this.frames.findIndex(match);
    if (i >= 0) {
      const [frame] = this.frames.splice(i, 1);
      this.bytes -= frame!.length;
      return Promise.resolve(frame!);
    }
    const awaited = match === undefined ? "a frame" : "its answer";
    if (this.ended !== undefined) return Promise.reject(new Error(`${what}: ${this.ended} before ${awaited} arrived`));
    const list: Waiter[] = match === undefined ? this.waiters : this.matchers;
    return new Promise<Frame>((resolve, reject) => {
      const waiter = {
        match: match ?? (() => true),
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(new Error(`${what}: ${e.message} before ${awaited} arrived`));
        },
      };
      const timer = setTimeout(() => {
        list.splice(list.indexOf(waiter), 1);
        reject(new Error(`${what}: no ${match === undefined ? "frame" : "answer"} from the server within ${timeoutMs} ms`));
      }, timeoutMs);
      list.push(waiter);
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
