/**
 * From a worker's reply, or from what went wrong, to an HTTP response
 * (docs/request.md has the table).
 */
import type { Message } from "../layer.js";

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The status for a failed `request()`: the caller's fault, the system's load, or the worker's. */
export function httpStatusOf(err: unknown): number {
  switch ((err as { code?: unknown } | null)?.code) {
    case "ERR_RATE_LIMITED":
      return 429;
    case "ERR_CHANNEL_FULL":
    case "ERR_BROKER_FULL":
    case "ERR_CONNECTION_LOST":
    case "ERR_LAYER_CLOSED":
      return 503;
    case "ERR_REQUEST_TIMEOUT":
      return 504;
    case "ERR_REQUEST_FAILED":
      return 502;
    case "ERR_MESSAGE_TOO_LARGE":
      return 413;
    case "ERR_INVALID_MESSAGE":
      return 400;
    default:
      return err instanceof TypeError ? 400 : 500;
  }
}

/**
 * Headers that belong to one caller (a session cookie, the clearing of its
 * stored data, its authentication): a cached route is a shared cache, so
 * these are never stored nor sent, to the first caller or any other
 * (equal requests under way share one reply).
 */
const PER_USER_HEADERS = new Set(["set-cookie", "set-cookie2", "clear-site-data", "authentication-info"]);

/** The worker's headers by lowercased name, or none when they are not an object (replyToResponse reports that). */
function headerEntries(reply: Message): Array<[string, string]> {
  const headers = reply.headers;
  if (typeof headers !== "object" || headers === null || Array.isArray(headers) || headers instanceof Uint8Array) return [];
  return Object.entries(headers).map(([name, value]) => [name.toLowerCase(), String(value)]);
}

/** The worker's Cache-Control forbids a shared cache to keep the reply (RFC 9111: no-store, private, no-cache). */
function forbidsSharing(reply: Message): boolean {
  return headerEntries(reply).some(([name, value]) => name === "cache-control" && /\b(no-store|private|no-cache)\b/i.test(value));
}

/**
 * Whether a cached route may keep a worker's reply for other callers: not
 * when it is one user's (it carries a per-user header, its body may be too),
 * nor when its Cache-Control forbids a shared cache to.
 */
export function storableReply(reply: Message): boolean {
  return !forbidsSharing(reply) && !headerEntries(reply).some(([name]) => PER_USER_HEADERS.has(name));
}

function isStatus(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 100 && value <= 599;
}

/** `{ status, headers, body }` as the worker sent it; a reply that is not one is the worker's fault (502). */
export function replyToResponse(reply: Message, cacheFor: number, age: number): HttpAnswer {
  const status = reply.status ?? 200;
  if (!isStatus(status)) return badReply(`status ${JSON.stringify(status)} is not an HTTP status`);
  const headers: Record<string, string> = {};
  const given = reply.headers ?? {};
  if (typeof given !== "object" || given === null || Array.isArray(given) || given instanceof Uint8Array) return badReply("headers must be an object of strings");
  for (const [name, value] of Object.entries(given)) {
    if (typeof value !== "string" && typeof value !== "number") return badReply(`header "${name}" must be a string`);
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n]/.test(String(value))) return badReply(`header "${name}" is not a valid HTTP header`);
    headers[name.toLowerCase()] = String(value);
  }
  let body: Buffer;
  const raw = reply.body;
  if (raw === undefined || raw === null) body = Buffer.alloc(0);
  else if (typeof raw === "string") {
    body = Buffer.from(raw);
    headers["content-type"] ??= "text/plain; charset=utf-8";
  } else if (raw instanceof Uint8Array) {
    body = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    headers["content-type"] ??= "application/octet-stream";
  } else {
    body = Buffer.from(JSON.stringify(raw, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
    headers["content-type"] ??= "application/json";
  }
  if (cacheFor > 0) {
    for (const name of PER_USER_HEADERS) delete headers[name];
    // The route's cache= bounds the reply's life downstream too, whatever max-age the worker (or a cache entry's writer) gave.
    if (!forbidsSharing(reply)) {
      headers["cache-control"] = `max-age=${Math.max(0, Math.floor(cacheFor) - age)}`;
      headers.age = String(age);
    }
  }
  return { status, headers, body };
}

function badReply(why: string): HttpAnswer {
  return {
    status: 502,
    headers: { "content-type": "application/json" },
    body: Buffer.from(JSON.stringify({ error: `the worker's reply is not an HTTP response: ${why}` })),
  };
}
