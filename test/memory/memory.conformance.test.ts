import { InMemoryChannelLayer } from "../../src/index.js";
import { conformance } from "../conformance/suite.js";

conformance({ name: "memory", make: (options) => new InMemoryChannelLayer(options), shared: false });
