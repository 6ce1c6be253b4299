/**
 * Milliseconds a key lives after its last write: `seconds`, plus as long again
 * (at least 10 s more); channels_redis uses `seconds` alone. Receives and group
 * sends drop expired entries exactly, so the extra time only keeps the
 * evidence that a member expired unread until a group send can see it
 * (docs/semantics.md §4.5), and keeps a group key from vanishing just as a renewal lands.
 */
export function keyTtlMs(seconds: number): number {
  const ms = Math.ceil(seconds * 1000);
  return ms + Math.max(ms, 10_000);
}
