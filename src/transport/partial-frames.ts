/**
 * Room for frames still arriving, shared by every connection of a broker.
 * A connection whose frame does not arrive in one read reserves the whole
 * frame's size (its length header says it) before it reads on; without room
 * it stops reading until there is, first come first served. So the bytes
 * held in partial frames stay under one bound however many clients each
 * start a large frame and hold it (docs/security.md), and a frame that has
 * its room always completes: no two connections can each hold half of the
 * room and wait for the other.
 */
export class PartialFrames {
  private reserved = 0;
  private readonly queue: Array<{ bytes: number; granted: () => void }> = [];

  constructor(readonly maxBytes: number) {}

  /** Bytes reserved now. */
  get reservedBytes(): number {
    return this.reserved;
  }

  /** Reserve `bytes`: true if there was room; otherwise false, and `granted` is called once they are reserved. */
  reserve(bytes: number, granted: () => void): boolean {
    if (this.queue.length === 0 && this.reserved + bytes <= this.maxBytes) {
      this.reserved += bytes;
      return true;
    }
    this.queue.push({ bytes, granted });
    return false;
  }

  /** Give back a reservation, and grant waiting ones in their order while they fit. */
  release(bytes: number): void {
    this.reserved -= bytes;
    while (this.queue.length > 0 && this.reserved + this.queue[0]!.bytes <= this.maxBytes) {
      const next = this.queue.shift()!;
      this.reserved += next.bytes;
      next.granted();
    }
  }

  /** Stop waiting for room (the connection closed). */
  cancel(granted: () => void): void {
    const i = this.queue.findIndex((w) => w.granted === granted);
    if (i >= 0) this.queue.splice(i, 1);
    // The head may have been what held the others back.
    this.release(0);
  }
}
