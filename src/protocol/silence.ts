/**
 * Heartbeats without a word from the other end, counted the same way by
 * the broker (for each client) and by the client (for its broker): three in
 * a row and the other end is taken for gone.
 */
export class Silence {
  /** Whether anything arrived since the last heartbeat. */
  private heardSinceBeat = true;
  private silentBeats = 0;

  /** Something arrived from the other end. */
  onArrival(): void {
    this.heardSinceBeat = true;
  }

  /** A heartbeat passed: whether the other end has now been silent for three. */
  beat(): boolean {
    if (this.heardSinceBeat) {
      this.heardSinceBeat = false;
      this.silentBeats = 0;
      return false;
    }
    return ++this.silentBeats >= 3;
  }
}
