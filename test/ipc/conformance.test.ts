import { afterAll, describe } from "vitest";
import { describeChannelLayer } from "../../src/testing/index.js";
import { proxyPool } from "./helpers.js";

for (const kind of ["fork", "thread"] as const) {
  describe(kind === "fork" ? "ipc: layer in a forked child" : "ipc: layer in a worker thread", () => {
    const pool = proxyPool(kind);
    afterAll(() => pool.close());
    describeChannelLayer(`ipc ${kind}`, { shared: true, make: (options) => pool.make(options) });
  });
}
