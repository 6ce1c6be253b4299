import { InMemoryChannelLayer } from "../../src/index.js";
import { describeChannelLayer, TestClock } from "../../src/testing/index.js";

// Every call of the in-memory layer takes effect before it returns, so one turn of the event loop
// settles it; its engine reads `clock`, so expiry cases move time instead of waiting it out.
const clock = new TestClock();
describeChannelLayer("memory", {
  make: (options) => new InMemoryChannelLayer({ ...options, clock }),
  shared: false,
  settle: () => new Promise((resolve) => setImmediate(resolve)),
  clock,
});
