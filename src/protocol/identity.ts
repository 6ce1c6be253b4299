/**
 * Self-certifying instance ids (docs/broker.md "Instance identity"). A client
 * draws its own secret and its instance id is derived from it, so the id can
 * be shown to anyone (stats, channel names) while only the holder of the
 * secret can say hello as it: after a reconnect grace expired, after a broker
 * restart, always. The broker keeps no secrets and hands none out.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** What is hashed in front of the secret, so the id means nothing elsewhere. */
const CONTEXT = "channel-layers/instance/";
/** Hex characters of the hash kept as the id: 64 bits, out of reach of a second-preimage search. */
const ID_CHARS = 16;
/** Longest secret a hello may present (a drawn one is 32 characters). */
const MAX_SECRET = 256;

/** A new instance secret: 24 random bytes, base64url. */
export function newInstanceSecret(): string {
  return randomBytes(24).toString("base64url");
}

/** The instance id of `secret`: `sha256(utf8("channel-layers/instance/" + secret))`, lowercase hex, first 16 characters. */
export function instanceIdOf(secret: string): string {
  return createHash("sha256").update(CONTEXT + secret, "utf8").digest("hex").slice(0, ID_CHARS);
}

/** Whether `secret` is a string whose derivation is `id`, compared in constant time. */
export function secretProves(id: string, secret: unknown): boolean {
  if (typeof secret !== "string" || secret.length === 0 || secret.length > MAX_SECRET || id.length !== ID_CHARS) return false;
  const claimed = Buffer.from(id);
  const derived = Buffer.from(instanceIdOf(secret));
  return claimed.length === derived.length && timingSafeEqual(claimed, derived);
}
