/** A bench backend for any `ChannelLayer` factory: the four shared workloads on it. */
import type { ChannelLayer } from "../../src/index.js";
import type { BenchBackend, RunResult, Workload } from "../types.js";
import { workloads } from "../workloads.js";

export function layerBackend(
  name: string,
  make: () => ChannelLayer | Promise<ChannelLayer>,
  hooks: Pick<BenchBackend, "available" | "start" | "stop" | "extras" | "workloads" | "maxN"> = { available: async () => true },
): BenchBackend {
  return {
    name,
    ...hooks,
    makeLayer: make,
    async run(workload: Workload, n: number): Promise<RunResult> {
      const layer = await make();
      try {
        return await workloads[workload](layer, n);
      } finally {
        await layer.close();
      }
    },
  };
}
