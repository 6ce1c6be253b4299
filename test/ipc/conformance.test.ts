import { afterAll, describe } from "vitest";
import { describeChannelLayer, TestClock } from "../../src/testing/index.js";
import { proxyPool } from "./helpers.js";

for (const kind of ["fork", "thread"] as const) {
  describe(kind === "fork" ? "ipc: layer in a forked child" : "ipc: layer in a worker thread", () => {
    // The brokers live in this process: expiry cases move their clock instead of waiting.
    const clock = new TestClock();
    const pool = proxyPool(kind, clock);
    afterAll(() => pool.close());
    describeChannelLayer(`ipc ${kind}`, { shared: true, make: (options) => pool.make(options), clock });
  });
}
