/**
 * Waiting in tests, in one place. `waitFor` polls a state, the events a test
 * recorded (`watch()` in test/heal/helpers.ts) or a stat until it holds, and
 * fails after a deadline saying what it waited for, so a stuck step fails by
 * name rather than at the test's timeout. `sleep` is for time a test means to
 * let pass (a heartbeat interval, a grace), not for waiting until something
 * happened.
 */
export { sleep } from "../src/testing/conformance/helpers.js";

export interface WaitOptions {
  /** Milliseconds before giving up. Default 5000. */
  timeout?: number;
  /** Milliseconds between checks. Default 10. */
  interval?: number;
}

/**
 * Resolves once `check` holds: a state (`() => server.connections === 0`) or
 * a stat (`async () => (await layer.stats()).members === 1`). A check that
 * throws counts as not yet (a server still starting).
 */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, { timeout = 5000, interval = 10 }: WaitOptions = {}): Promise<void> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last === undefined ? "" : ` (last check threw: ${(last as Error).message ?? String(last)})`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
