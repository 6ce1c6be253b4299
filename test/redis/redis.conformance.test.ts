import { afterAll } from "vitest";
import { describeChannelLayer } from "../../src/testing/index.js";
import { cleanPrefix, makeLayer, REDIS_LACKS, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis");

const prefix = testPrefix();
afterAll(() => cleanPrefix(prefix));

describeChannelLayer("redis (real server)", {
  make: (options) => makeLayer(prefix, options),
  shared: true,
  capabilities: REDIS_LACKS,
});
