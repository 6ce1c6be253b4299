/**
 * Errors on the wire: a code, a message and the details its class needs, so
 * that an error raised in the broker rejects the client's call with the same
 * class (a ChannelFullError stays a ChannelFullError, with its channel and
 * capacity).
 */
import {
  AuthenticationError,
  BrokerFullError,
  ChannelFullError,
  ConnectionLostError,
  ForbiddenError,
  InvalidChannelNameError,
  InvalidGroupNameError,
  InvalidMessageError,
  LayerClosedError,
  MessageTooLargeError,
  NoGroupHistoryError,
  ProtocolError,
  RateLimitedError,
  RequestFailedError,
  RequestTimeoutError,
  type ErrorCode,
} from "../errors.js";

export type WireError = [code: string, message: string, details?: unknown[]];

/** The wire form of anything thrown while serving a request. */
export function errorToWire(err: unknown): WireError {
  if (err instanceof ChannelFullError) return [err.code, err.message, [err.channel, err.capacity]];
  if (err instanceof MessageTooLargeError) return [err.code, err.message, [err.size, err.limit]];
  if (err instanceof RateLimitedError) return [err.code, err.message, [err.channel, err.retryAfterMs]];
  if (err instanceof BrokerFullError) return [err.code, err.message, [err.limit]];
  if (err instanceof RequestTimeoutError) return [err.code, err.message, [err.channel, err.timeoutMs]];
  if (err instanceof RequestFailedError) return [err.code, err.message, [err.remoteCode, err.remoteMessage]];
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code in REBUILD) return [code, (err as Error).message];
  // Anything else is the broker's own fault; say so rather than leak a stack.
  return ["ERR_PROTOCOL", `broker error: ${err instanceof Error ? err.message : String(err)}`];
}

const REBUILD: Record<ErrorCode, (message: string, details: unknown[]) => Error> = {
  ERR_CHANNEL_FULL: (m, [channel, capacity]) =>
    typeof channel === "string" && typeof capacity === "number" ? new ChannelFullError(channel, capacity) : new ProtocolError(m),
  ERR_MESSAGE_TOO_LARGE: (m, [size, limit]) =>
    typeof size === "number" && typeof limit === "number" ? new MessageTooLargeError(size, limit) : new ProtocolError(m),
  ERR_RATE_LIMITED: (m, [channel, retryAfterMs]) =>
    typeof channel === "string" && typeof retryAfterMs === "number" ? new RateLimitedError(channel, retryAfterMs) : new ProtocolError(m),
  ERR_BROKER_FULL: (m, [limit]) => (typeof limit === "number" ? new BrokerFullError(limit) : new ProtocolError(m)),
  ERR_REQUEST_TIMEOUT: (m, [channel, timeoutMs]) =>
    typeof channel === "string" && typeof timeoutMs === "number" ? new RequestTimeoutError(channel, timeoutMs) : new ProtocolError(m),
  ERR_REQUEST_FAILED: (m, [code, message]) =>
    typeof code === "string" && typeof message === "string" ? new RequestFailedError(code, message) : new ProtocolError(m),
  ERR_INVALID_CHANNEL_NAME: (m) => new InvalidChannelNameError(m),
  ERR_INVALID_GROUP_NAME: (m) => new InvalidGroupNameError(m),
  ERR_LAYER_CLOSED: (m) => new LayerClosedError(m),
  ERR_CONNECTION_LOST: (m) => new ConnectionLostError(m),
  ERR_AUTHENTICATION: (m) => new AuthenticationError(m),
  ERR_FORBIDDEN: (m) => new ForbiddenError(m),
  ERR_PROTOCOL: (m) => new ProtocolError(m),
  ERR_INVALID_MESSAGE: (m) => new InvalidMessageError(m),
  // Consumer-side errors: never sent by a broker; one arriving is the peer's mistake.
  ERR_INVALID_MESSAGE_TYPE: (m) => new ProtocolError(m),
  ERR_NO_HANDLER: (m) => new ProtocolError(m),
  ERR_BAD_FRAME: (m) => new ProtocolError(m),
  ERR_NO_GROUP_HISTORY: (m) => new NoGroupHistoryError(m),
};

/** The error class a wire error stands for; an unknown code becomes a ProtocolError. */
export function errorFromWire(code: unknown, message: unknown, details: unknown): Error {
  const text = typeof message === "string" ? message : "the broker reported an error without a message";
  const rebuild = typeof code === "string" && Object.hasOwn(REBUILD, code) ? REBUILD[code as ErrorCode] : undefined;
  if (rebuild === undefined) return new ProtocolError(`broker error ${String(code)}: ${text}`);
  return rebuild(text, Array.isArray(details) ? details : []);
}
