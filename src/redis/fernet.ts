/**
 * Fernet (the `cryptography` package's token format) on node:crypto, as
 * channels_redis uses it for `symmetric_encryption_keys`: each secret becomes
 * the key `base64url(sha256(utf8(secret)))`; the first key encrypts, every key
 * is tried to decrypt (Python's MultiFernet), so keys can be rotated.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const VERSION = 0x80;
/** Python refuses tokens stamped more than this far in the future (clock skew). */
const MAX_CLOCK_SKEW_S = 60;
const HEADER = 1 + 8 + 16;
const MAC = 32;

class FernetKey {
  constructor(
    readonly signing: Buffer,
    readonly encryption: Buffer,
  ) {}

  static fromSecret(secret: string | Uint8Array): FernetKey {
    const digest = createHash("sha256").update(secret).digest();
    return new FernetKey(digest.subarray(0, 16), digest.subarray(16, 32));
  }
}

export class InvalidTokenError extends Error {
  constructor(why: string) {
    super(`Fernet token refused: ${why}`);
    this.name = "InvalidTokenError";
  }
}

export class MultiFernet {
  private readonly keys: FernetKey[];

  /** `secrets`: the channels_redis `symmetric_encryption_keys`, newest first. */
  constructor(secrets: ReadonlyArray<string | Uint8Array>) {
    if (!Array.isArray(secrets) || secrets.length === 0) {
      throw new TypeError("symmetricEncryptionKeys must be a non-empty array of secrets (a list, even for one key)");
    }
    this.keys = secrets.map((s, i) => {
      if (typeof s !== "string" && !(s instanceof Uint8Array)) {
        throw new TypeError(`symmetricEncryptionKeys[${i}] must be a string or bytes, got ${typeof s}`);
      }
      return FernetKey.fromSecret(s);
    });
  }

  /** A token (as ASCII bytes, padded base64url) for `plaintext`, with the first key. */
  encrypt(plaintext: Uint8Array, nowSeconds = Math.floor(Date.now() / 1000), iv: Buffer = randomBytes(16)): Buffer {
    const key = this.keys[0]!;
    const cipher = createCipheriv("aes-128-cbc", key.encryption, iv);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const token = Buffer.allocUnsafe(HEADER + body.length + MAC);
    token[0] = VERSION;
    token.writeBigUInt64BE(BigInt(nowSeconds), 1);
    iv.copy(token, 9);
    body.copy(token, HEADER);
    createHmac("sha256", key.signing).update(token.subarray(0, HEADER + body.length)).digest().copy(token, HEADER + body.length);
    // Python writes padded base64url; Buffer's "base64url" drops the padding, so translate standard base64.
    return Buffer.from(token.toString("base64").replace(/\+/g, "-").replace(/\//g, "_"), "latin1");
  }

  /**
   * The plaintext of `token`, tried with every key. `ttlSeconds`: refuse tokens
   * older than this (channels_redis passes `expiry + 10`).
   */
  decrypt(token: Uint8Array, ttlSeconds?: number, nowSeconds = Math.floor(Date.now() / 1000)): Buffer {
    const raw = Buffer.from(Buffer.from(token).toString("latin1"), "base64url");
    if (raw.length < HEADER + 16 + MAC || (raw.length - HEADER - MAC) % 16 !== 0) throw new InvalidTokenError("wrong length");
    if (raw[0] !== VERSION) throw new InvalidTokenError(`unknown version 0x${raw[0]!.toString(16)}`);
    const stamp = Number(raw.readBigUInt64BE(1));
    if (ttlSeconds !== undefined && stamp + ttlSeconds < nowSeconds) throw new InvalidTokenError("expired");
    if (stamp > nowSeconds + MAX_CLOCK_SKEW_S) throw new InvalidTokenError("stamped in the future");
    const signed = raw.subarray(0, raw.length - MAC);
    const mac = raw.subarray(raw.length - MAC);
    for (const key of this.keys) {
      if (!timingSafeEqual(createHmac("sha256", key.signing).update(signed).digest(), mac)) continue;
      const decipher = createDecipheriv("aes-128-cbc", key.encryption, raw.subarray(9, HEADER));
      try {
        return Buffer.concat([decipher.update(raw.subarray(HEADER, raw.length - MAC)), decipher.final()]);
      } catch {
        throw new InvalidTokenError("bad padding");
      }
    }
    throw new InvalidTokenError("no key matches its signature");
  }
}
