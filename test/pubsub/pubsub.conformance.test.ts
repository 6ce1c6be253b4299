import { describeChannelLayer } from "../../src/testing/index.js";
import { makePubSub, PUBSUB_LACKS, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis");

const prefix = testPrefix();

describeChannelLayer("redis pub/sub (real server)", {
  make: (options) => makePubSub(prefix, options),
  shared: true,
  capabilities: {
    ...PUBSUB_LACKS,
    trafficControl: "channels_redis' pub/sub layer keeps no such state, so Python peers could not honour it",
  },
});

describeChannelLayer("redis pub/sub, sharded (SSUBSCRIBE, real server)", {
  make: (options) => makePubSub(prefix, { sharded: true, ...options }),
  shared: true,
  capabilities: {
    ...PUBSUB_LACKS,
    trafficControl: "channels_redis' pub/sub layer keeps no such state, so Python peers could not honour it",
  },
});
