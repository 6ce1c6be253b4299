/**
 * Sends to one shard, batched per tick: every send made in the same
 * synchronous run goes out in one SEND script call at the next microtask. A
 * lone send (pingpong) pays one microtask; a burst of a thousand pays one
 * round trip and one ioredis command instead of a thousand.
 */
import type { Shard } from "./connections.js";
import { score } from "./scripts.js";

interface Pending {
  resolve(stored: boolean): void;
  reject(err: unknown): void;
}

export class SendBatcher {
  private args: Array<string | number | Buffer> = [];
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly shard: Shard,
    /** Seconds a message may wait (the purge cutoff is each score minus this). */
    private readonly expiry: number,
    private readonly ttlMs: number,
  ) {}

  /** Resolves true when stored, false when the key was at `capacity` (-1: no limit). */
  send(key: string, member: Buffer, at: number, capacity: number): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.args.push(key, member, score(at), capacity);
      this.pending.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    const { args, pending } = this;
    this.args = [];
    this.pending = [];
    this.scheduled = false;
    this.shard.hot((client) => client.chlSend(args[0]!, pending.length, this.expiry, this.ttlMs, ...args)).then(
      (status) => {
        for (let i = 0; i < pending.length; i++) pending[i]!.resolve(status[i] === "1");
      },
      (err: unknown) => {
        const mapped = this.shard.fail(err);
        for (const p of pending) p.reject(mapped);
      },
    );
  }
}
