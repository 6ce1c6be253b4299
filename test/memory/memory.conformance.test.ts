import { InMemoryChannelLayer } from "../../src/index.js";
import { conformance } from "../conformance/suite.js";
import { trafficConformance } from "../conformance/traffic.js";
import { requestConformance } from "../conformance/request.js";

conformance({ name: "memory", make: (options) => new InMemoryChannelLayer(options), shared: false });

trafficConformance({ name: "memory", make: (options) => new InMemoryChannelLayer(options), shared: false });

requestConformance({ name: "memory", make: (options) => new InMemoryChannelLayer(options), shared: false });
