/**
 * The close codes the server uses, so clients can tell why they were closed.
 * 4000-4999 are for applications (RFC 6455 §7.4.2); ours echo HTTP where
 * one fits.
 */
export const CloseCode = {
  /** A normal close. */
  normal: 1000,
  /** The server is shutting down. */
  goingAway: 1001,
  /** A handler failed and the route closes on handler errors. */
  internalError: 1011,
  /** The server's channel layer failed (its backend unreachable): reconnect, perhaps to another server. */
  serviceRestart: 1012,
  /** The client read too slowly: its unsent data passed `maxBufferedBytes`. */
  slowClient: 4008,
  /** The client sent faster than the route's throttle allows (with `onLimit: "close"`). */
  throttled: 4029,
} as const;
