/**
 * `request(…, { cacheFor })` on the broker (docs/request.md): cached replies
 * live in the broker, shared by every client, stored and read with the
 * CacheSet and CacheGet ops (the broker checks the token's rights).
 */
import { decodeMessage, encodeMessage } from "../dependencies/msgpack.js";
import type { Message } from "../layer.js";
import type { CachedReply, ReplyCache } from "../request/cache.js";
import { read, type Answer, type Request } from "./decode.js";
import { Op } from "./ops.js";

/** Sends a request to the broker and awaits what `answer` reads from its answer (ProtocolLayer's call). */
export type BrokerCall = <T>(request: Request, answer: (answer: Answer) => T) => Promise<T>;

export class BrokerReplyCache implements ReplyCache {
  constructor(private readonly call: BrokerCall) {}

  async get(key: string): Promise<CachedReply | undefined> {
    const { body, storedAt } = await this.call({ op: Op.CacheGet, id: 0, key }, read.cacheEntry);
    return body === null ? undefined : { reply: decodeMessage(body), storedAt };
  }

  set(key: string, reply: Message, seconds: number): Promise<void> {
    const ttlMs = Math.min(86_400_000, Math.max(1, Math.round(seconds * 1000)));
    return this.call({ op: Op.CacheSet, id: 0, key, body: encodeMessage(reply), ttlMs }, read.nothing);
  }
}
