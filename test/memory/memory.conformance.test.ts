import { InMemoryChannelLayer } from "../../src/index.js";
import { describeChannelLayer } from "../../src/testing/index.js";

describeChannelLayer("memory", { make: (options) => new InMemoryChannelLayer(options), shared: false });
