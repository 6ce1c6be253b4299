/**
 * Redis pub/sub rows: ours (`redis-pubsub`) and channels_redis'
 * RedisPubSubChannelLayer (`python-redis-pubsub`) on the same server.
 * Pub/sub keeps nothing for a channel nobody listens on, so both sides
 * listen on a channel before their first send to it (ours: `listen`,
 * Python: the subscription its receive would make): pingpong is then "a send
 * to a channel the same process subscribed to, then its receive".
 */
import type { Message, SendOptions } from "../../src/index.js";
import { RedisPubSubChannelLayer } from "../../src/index.js";
import type { BenchBackend } from "../types.js";
import { layerBackend } from "./layer.js";
import { pythonBackend } from "./python.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379/0";

class ListeningFirst extends RedisPubSubChannelLayer {
  private readonly listening = new Map<string, Promise<void>>();
  private readonly heard = new Set<string>();

  override send(channel: string, message: Message, options?: SendOptions): Promise<void> {
    if (this.heard.has(channel)) return super.send(channel, message, options);
    let ready = this.listening.get(channel);
    if (!ready) {
      ready = this.listen(channel).then(() => {
        this.heard.add(channel);
        this.listening.delete(channel);
      });
      this.listening.set(channel, ready);
    }
    // Every send waiting here continues in the order it came: FIFO as without the wait.
    return ready.then(() => super.send(channel, message, options));
  }
}

export const redisPubsub: BenchBackend = layerBackend(
  "redis-pubsub",
  () => new ListeningFirst({ hosts: [REDIS_URL], prefix: "asgibenchps", capacity: Infinity, expiry: 3600 }),
  { available: async () => true, maxN: 100_000 },
);

export const pythonRedisPubsub: BenchBackend = pythonBackend("python-redis-pubsub", "pubsub", () => ["--redis", REDIS_URL, "--prefix", "asgibenchpy"], 20_000);
