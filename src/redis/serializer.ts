/**
 * Member bytes as channels_redis writes them: 12 random bytes (so identical
 * messages stay distinct members of the sorted set) then msgpack, or then a
 * Fernet token of the msgpack when encryption is on.
 */
import { randomFillSync } from "node:crypto";
import { InvalidMessageError } from "../errors.js";
import type { Message } from "../layer.js";
import { asMessage, decodeMessage, encodeMessage } from "../dependencies/msgpack.js";
import { addresseeOf, NotAMessage } from "../client/not-a-message.js";
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
    readonly prefixLength = RANDOM_PREFIX_LENGTH,
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

  /**
   * The msgpack of `message` with its map header counting one entry more, so
   * that a script can append `"__asgi_channel__": [...]` (GROUP_SEND_LOCAL).
   */
  encodeHead(message: Message): Buffer {
    const packed = encodeMessage(message);
    const first = packed[0]!;
    let count: number;
    let headerLength: number;
    if (first >= 0x80 && first <= 0x8f) [count, headerLength] = [first & 0x0f, 1];
    else if (first === 0xde) [count, headerLength] = [packed.readUInt16BE(1), 3];
    else throw new InvalidMessageError("a message must pack to a msgpack map of fewer than 65535 entries");
    const n = count + 1;
    const header = n <= 15 ? Buffer.from([0x80 | n]) : Buffer.from([0xde, n >> 8, n & 0xff]);
    return Buffer.concat([header, packed.subarray(headerLength)]);
  }

  /** `prefixLength` random bytes, for the group script to put before each key's member. */
  randomPrefix(): Buffer {
    const out = Buffer.allocUnsafe(this.prefixLength);
    this.randomInto(out);
    return out;
  }

  /**
   * The message in a member, or why it holds none (garbage, a wrong key, an
   * expired token, no message). `tokenTtl`: seconds a token stays valid, for
   * bodies kept longer than a queue's (group history).
   */
  decode(member: Uint8Array, tokenTtl = this.tokenTtl): Message | NotAMessage {
    let value: unknown;
    try {
      let body = member.subarray(this.prefixLength);
      if (this.fernet) body = this.fernet.decrypt(body, tokenTtl);
      value = decodeMessage(body);
      return asMessage(value);
    } catch (err) {
      return new NotAMessage((err as Error).message, addresseeOf(value));
    }
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
