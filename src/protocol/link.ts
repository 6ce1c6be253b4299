/**
 * A link is one live connection to the peer, whatever carries it: a TCP, TLS
 * or Unix socket (the IPC backend too: its children reach the parent's broker
 * over a Unix socket whose path they learn through Node's IPC channel). The
 * client core and the broker session speak only to this interface, so a new
 * transport is a new Link and nothing else.
 */
export interface Link {
  /**
   * Send decoded frames (protocol arrays), all made in one tick, as one write.
   * A byte stream splits them into stream frames of at most `splitBytes`
   * (the peer's limit) where it can; a frame alone may be larger.
   */
  send(frames: readonly unknown[], splitBytes?: number): void;
  /** End the connection after what was sent; `closed` follows. */
  close(): void;
  /** Bytes sent but not yet taken by the peer; absent where the transport cannot tell (IPC). */
  readonly buffered?: number;
  /** Stop delivering the peer's frames until `resume` (flow control for a peer that asks faster than it reads). */
  pause?(): void;
  resume?(): void;
  /** The peer has said hello: lift the limits put on a peer not yet known. */
  admit?(): void;
}

export interface LinkHandlers {
  /** A decoded frame arrived (not yet validated: the receiver checks every field). */
  onFrame: (frame: unknown) => void;
  /** The peer sent bytes that are not frames; the link is ended next. */
  onMalformed: (err: Error) => void;
  /** What was sent has been taken by the peer, after a send that had to wait. */
  onDrained?: () => void;
  /** The link is gone (ended, reset, or failed to open). Called once. */
  onClosed: (err?: Error) => void;
}
