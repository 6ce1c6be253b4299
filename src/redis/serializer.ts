/**
 * Member bytes as channels_redis writes them: 12 random bytes (so identical
 * messages stay distinct members of the sorted set) then msgpack, or then a
 * Fernet token of the msgpack when encryption is on.
 */
import { randomFillSync } from "node:crypto";
import type { Message } from "../layer.js";
import { decodeMessage, encodeMessage } from "../msgpack.js";
import { MultiFernet } from "./fernet.js";

export const RANDOM_PREFIX_LENGTH = 12;
/** Random bytes drawn at once: one syscall per ~340 messages instead of one each. */
const POOL_SIZE = 4096;

export class Serializer {
  private readonly fernet: MultiFernet | undefined;
  private pool = Buffer.allocUnsafe(POOL_SIZE);
  private used = POOL_SIZE;

  constructor(
    encryptionKeys: ReadonlyArray<string | Uint8Array> | undefined,
    /** Seconds a token stays valid when decrypting (channels_redis: `expiry + 10`). */
    private readonly tokenTtl: number,
    private readonly prefixLength = RANDOM_PREFIX_LENGTH,
  ) {
    this.fernet = encryptionKeys === undefined ? undefined : new MultiFernet(encryptionKeys);
  }

  get encrypted(): boolean {
    return this.fernet !== undefined;
  }

  encode(message: Message): Buffer {
    let body: Uint8Array = encodeMessage(message);
    if (this.fernet) body = this.fernet.encrypt(body);
    const out = Buffer.allocUnsafe(this.prefixLength + body.length);
    this.randomInto(out);
    out.set(body, this.prefixLength);
    return out;
  }

  /** Throws on bytes that are not a member (garbage, a wrong key, an expired token). */
  decode(member: Uint8Array): Message {
    let body = member.subarray(this.prefixLength);
    if (this.fernet) body = this.fernet.decrypt(body, this.tokenTtl);
    const message = decodeMessage(body);
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      throw new TypeError(`a member decoded to ${Array.isArray(message) ? "an array" : typeof message}, not a message`);
    }
    return message;
  }

  private randomInto(out: Buffer): void {
    if (this.used + this.prefixLength > POOL_SIZE) {
      randomFillSync(this.pool);
      this.used = 0;
    }
    this.pool.copy(out, 0, this.used, this.used + this.prefixLength);
    this.used += this.prefixLength;
  }
}
