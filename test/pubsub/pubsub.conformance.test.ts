import { conformance } from "../conformance/suite.js";
import { makePubSub, PUBSUB_LACKS, testPrefix } from "./helpers.js";

const prefix = testPrefix();

conformance({ name: "redis pub/sub (real server)", make: (options) => makePubSub(prefix, options), shared: true, lacks: PUBSUB_LACKS });
