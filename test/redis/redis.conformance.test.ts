import { afterAll } from "vitest";
import { conformance } from "../conformance/suite.js";
import { requestConformance } from "../conformance/request.js";
import { cleanPrefix, makeLayer, testPrefix } from "./helpers.js";

const prefix = testPrefix();
afterAll(() => cleanPrefix(prefix));

conformance({ name: "redis (real server)", make: (options) => makeLayer(prefix, options), shared: true });

requestConformance({ name: "redis (real server)", make: (options) => makeLayer(prefix, options), shared: true });
