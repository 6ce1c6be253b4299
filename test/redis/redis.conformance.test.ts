import { afterAll } from "vitest";
import { describeChannelLayer } from "../../src/testing/index.js";
import { cleanPrefix, makeLayer, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis");

const prefix = testPrefix();
afterAll(() => cleanPrefix(prefix));

describeChannelLayer("redis (real server)", {
  make: (options) => makeLayer(prefix, options),
  shared: true,
  capabilities: {
    trafficControl: "channels_redis' Redis layout has no priorities, rate limits, overflow policies or dead letters",
    groupHistory: "not built yet for Redis (docs/recovery.md)",
    presence: "presence is not built on Redis yet: groupAdd with presence is rejected with a TypeError (docs/presence.md)",
  },
});
