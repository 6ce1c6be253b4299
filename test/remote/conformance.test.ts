import { afterAll, describe } from "vitest";
import { RemoteChannelLayer, type LayerOptions } from "../../src/index.js";
import { resolveOptions } from "../../src/options/layer-options.js";
import { describeChannelLayer } from "../../src/testing/index.js";
import { brokerPool, type Kind } from "./helpers.js";

for (const kind of ["tcp", "unix"] as const satisfies Kind[]) {
  describe(`over ${kind}`, () => {
    const pool = brokerPool(kind);
    afterAll(() => pool.close());
    // Options are checked at once, as every layer's constructor does; a bad one never starts a broker.
    const make = (options?: LayerOptions): Promise<RemoteChannelLayer> => {
      resolveOptions(options);
      return pool.urlFor(options).then((url) => new RemoteChannelLayer(url, options));
    };
    describeChannelLayer(`remote ${kind}`, { shared: true, make });
  });
}
