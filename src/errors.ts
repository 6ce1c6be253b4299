/**
 * The errors every backend reports, each with a stable `code` (Node's
 * convention) so callers can branch on `err.code` across package versions.
 */

export type ErrorCode =
  | "ERR_CHANNEL_FULL"
  | "ERR_MESSAGE_TOO_LARGE"
  | "ERR_INVALID_CHANNEL_NAME"
  | "ERR_INVALID_GROUP_NAME"
  | "ERR_LAYER_CLOSED"
  | "ERR_CONNECTION_LOST"
  | "ERR_AUTHENTICATION"
  | "ERR_FORBIDDEN"
  | "ERR_PROTOCOL"
  | "ERR_RATE_LIMITED"
  | "ERR_BROKER_FULL"
  | "ERR_REQUEST_TIMEOUT"
  | "ERR_REQUEST_FAILED"
  | "ERR_INVALID_MESSAGE"
  | "ERR_INVALID_MESSAGE_TYPE"
  | "ERR_NO_HANDLER"
  | "ERR_BAD_FRAME"
  | "ERR_NO_GROUP_HISTORY";

/** Base of the package's own non-TypeError errors. */
export class ChannelLayerError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** `send` found the channel at its capacity; nothing was stored. */
export class ChannelFullError extends ChannelLayerError {
  readonly channel: string;
  readonly capacity: number;
  constructor(channel: string, capacity: number) {
    super(
      "ERR_CHANNEL_FULL",
      `channel "${channel}" is full (capacity ${capacity}): nothing was stored; ` +
        "receive from it faster, or raise `capacity` / `channelCapacity`",
    );
    this.channel = channel;
    this.capacity = capacity;
  }
}

/** `send` went over the channel's rate limit; nothing was stored. Retry after `retryAfterMs`. */
export class RateLimitedError extends ChannelLayerError {
  readonly channel: string;
  readonly retryAfterMs: number;
  constructor(channel: string, retryAfterMs: number) {
    super(
      "ERR_RATE_LIMITED",
      `channel "${channel}" is over its rate limit: nothing was stored; retry in ${retryAfterMs} ms`,
    );
    this.channel = channel;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The broker holds `maxStoredBytes` of messages already; nothing was stored. Retry when receivers catch up. */
export class BrokerFullError extends ChannelLayerError {
  readonly limit: number;
  constructor(limit: number) {
    super(
      "ERR_BROKER_FULL",
      `the broker is full: its stored messages reached maxStoredBytes (${limit} bytes); nothing was stored; ` +
        "retry when receivers have caught up, or raise --max-stored-bytes",
    );
    this.limit = limit;
  }
}

/** The encoded message is larger than `maxMessageBytes`. */
export class MessageTooLargeError extends ChannelLayerError {
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number) {
    super(
      "ERR_MESSAGE_TOO_LARGE",
      `message encodes to ${size} bytes, over the limit of ${limit} bytes (maxMessageBytes); ` +
        "send a reference to large data instead of the data",
    );
    this.size = size;
    this.limit = limit;
  }
}

/** A channel name that breaks the naming rule (docs/semantics.md §2.5). A TypeError. */
export class InvalidChannelNameError extends TypeError {
  readonly code = "ERR_INVALID_CHANNEL_NAME" as const;
  constructor(message: string) {
    super(message);
    this.name = "InvalidChannelNameError";
  }
}

/** A group name that breaks the naming rule (docs/semantics.md §2.5). A TypeError. */
export class InvalidGroupNameError extends TypeError {
  readonly code = "ERR_INVALID_GROUP_NAME" as const;
  constructor(message: string) {
    super(message);
    this.name = "InvalidGroupNameError";
  }
}

/** The layer was closed: pending receives end with this, later calls reject with it. */
export class LayerClosedError extends ChannelLayerError {
  constructor(message = "the channel layer is closed") {
    super("ERR_LAYER_CLOSED", message);
  }
}

/** The backend (broker, parent process, Redis) could not be reached in time. */
export class ConnectionLostError extends ChannelLayerError {
  constructor(message: string) {
    super("ERR_CONNECTION_LOST", message);
  }
}

/** The broker refused the client's token. */
export class AuthenticationError extends ChannelLayerError {
  constructor(message: string) {
    super("ERR_AUTHENTICATION", message);
  }
}

/**
 * The broker knows the client's token, and it does not grant this call: a
 * send, receive or group right its patterns do not cover, or an admin right
 * (docs/security.md). Nothing was done; the connection stays up.
 */
export class ForbiddenError extends ChannelLayerError {
  constructor(message: string) {
    super("ERR_FORBIDDEN", message);
  }
}

/** A peer spoke the wire protocol wrongly (bad frame, other protocol version). */
export class ProtocolError extends ChannelLayerError {
  constructor(message: string) {
    super("ERR_PROTOCOL", message);
  }
}

/**
 * A message that is not allowed (docs/semantics.md §2.6, §2.7): not a plain
 * object with a string `type`, the reserved key, or a value a message cannot
 * carry. The text names the path of the bad value. A TypeError.
 */
export class InvalidMessageError extends TypeError {
  readonly code = "ERR_INVALID_MESSAGE" as const;
  constructor(message: string) {
    super(message);
    this.name = "InvalidMessageError";
  }
}

/** A message type that cannot name a handler (empty, or one that would name a private method). A TypeError. */
export class InvalidMessageTypeError extends TypeError {
  readonly code = "ERR_INVALID_MESSAGE_TYPE" as const;
  constructor(message: string) {
    super(message);
    this.name = "InvalidMessageTypeError";
  }
}

/** `request()` got no reply in time (no worker listening, or the worker died or is too slow). */
export class RequestTimeoutError extends ChannelLayerError {
  constructor(
    readonly channel: string,
    readonly timeoutMs: number,
  ) {
    super(
      "ERR_REQUEST_TIMEOUT",
      `no reply from channel "${channel}" within ${timeoutMs} ms: is a worker receiving from it? (raise \`timeout\` for slow handlers)`,
    );
  }
}

/** The worker's handler failed: it replied `{ type: "error", code, message }`. */
export class RequestFailedError extends ChannelLayerError {
  constructor(
    /** The code the worker gave (its error's `code`, or "ERR_HANDLER"). */
    readonly remoteCode: string,
    readonly remoteMessage: string,
  ) {
    super("ERR_REQUEST_FAILED", `the worker's handler failed (${remoteCode}): ${remoteMessage}`);
  }
}

/** A message whose `type` has no handler (a consumer's method, a worker's handler). */
export class NoHandlerError extends ChannelLayerError {
  constructor(
    readonly type: string,
    /** Who was asked: a consumer class, or a worker channel. */
    readonly owner: string,
    hint: string,
  ) {
    super("ERR_NO_HANDLER", `${owner} has no handler for message type "${type}": ${hint}`);
  }
}

/** A WebSocket frame that does not hold what its route expects (wrong frame kind, bad JSON or msgpack). */
export class BadFrameError extends ChannelLayerError {
  constructor(message: string) {
    super("ERR_BAD_FRAME", message);
  }
}

/** A history read of a group no `groupHistory` pattern keeps history for (docs/recovery.md). A TypeError. */
export class NoGroupHistoryError extends TypeError {
  readonly code = "ERR_NO_GROUP_HISTORY" as const;
  constructor(message: string) {
    super(message);
    this.name = "NoGroupHistoryError";
  }
}
