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
    headers["cache-control"] ??= `max-age=${Math.max(0, Math.floor(cacheFor) - age)}`;
    headers.age = String(age);
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
