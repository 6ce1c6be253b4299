import { afterAll, describe } from "vitest";
import { conformance } from "../conformance/suite.js";
import { trafficConformance } from "../conformance/traffic.js";
import { requestConformance } from "../conformance/request.js";
import { proxyPool } from "./helpers.js";

for (const kind of ["fork", "thread"] as const) {
  describe(kind === "fork" ? "ipc: layer in a forked child" : "ipc: layer in a worker thread", () => {
    const pool = proxyPool(kind);
    afterAll(() => pool.close());
    conformance({ name: `ipc ${kind}`, shared: true, make: (options) => pool.make(options) });
    trafficConformance({ name: `ipc ${kind}`, shared: true, make: (options) => pool.make(options) });
    requestConformance({ name: `ipc ${kind}`, shared: true, make: (options) => pool.make(options) });
  });
}
