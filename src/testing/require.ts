/**
 * `require("channel-layers/testing")`: what CommonJS test runners (Jest) load.
 * The communicators and the clock are the same as from `import`; the
 * conformance suite registers vitest tests, and vitest loads only from ES
 * modules (its import is a top-level await, which `require()` cannot load),
 * so here it says where to get it instead.
 */
import type { describeChannelLayer as Describe } from "./describe.js";

export { WebSocketCommunicator } from "./websocket.js";
export { ConsumerCommunicator } from "./consumer.js";
export { TestClock } from "./clock.js";

export const describeChannelLayer: typeof Describe = () => {
  throw new Error(
    'describeChannelLayer registers vitest tests, and vitest runs ES modules only: call it from an ESM test file (import { describeChannelLayer } from "channel-layers/testing")',
  );
};
