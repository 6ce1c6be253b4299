/**
 * `channel-layers/observe`: metrics, the status page and its HTTP server.
 * A subpath of its own so that importing the package does not load
 * prom-client (measured: 75 ms and more on the shared 2-core machine) for
 * layers that never serve metrics.
 */
export { ObserveServer, type ObserveServerOptions } from "./http.js";
export { BrokerMetrics } from "./metrics.js";
export type { RatePoint, SamplerOptions, Snapshot } from "./snapshot.js";
