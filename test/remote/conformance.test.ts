import { afterAll, describe } from "vitest";
import { RemoteChannelLayer } from "../../src/index.js";
import { resolveOptions } from "../../src/options.js";
import { conformance } from "../conformance/suite.js";
import { brokerPool, type Kind } from "./helpers.js";

for (const kind of ["tcp", "unix"] as const satisfies Kind[]) {
  describe(`over ${kind}`, () => {
    const pool = brokerPool(kind);
    afterAll(() => pool.close());
    conformance({
      name: `remote ${kind}`,
      shared: true,
      async make(options) {
        // Options are checked by the layer first: a bad one never starts a broker.
        resolveOptions(options);
        return new RemoteChannelLayer(await pool.urlFor(options), options);
      },
    });
  });
}
