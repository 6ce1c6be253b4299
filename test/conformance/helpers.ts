/** The conformance suite's helpers, for the project's other tests: they live with the suite in src/testing/conformance. */
export { closedAfterEach, drain, expectEmpty, fresh, sleep, tick, tryReceive } from "../../src/testing/conformance/helpers.js";
