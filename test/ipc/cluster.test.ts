import { describe, expect, it } from "vitest";
import { exited, forkTs } from "./helpers.js";

describe("ipc: a node:cluster app", () => {
  it("workers share groups and a worker channel; a worker killed mid-stream loses nothing for the others; its replacement joins", async () => {
    const primary = forkTs("cluster-app.ts");
    try {
      const result = await new Promise<Record<string, unknown>>((resolve, reject) => {
        primary.once("message", (m) => resolve(m as Record<string, unknown>));
        primary.once("exit", (code) => reject(new Error(`the cluster primary exited with ${code} before reporting`)));
      });
      expect(result.error).toBeUndefined();
      expect(result.membersAfterJoin).toBe(3);
      // A group send reaches every worker.
      expect(result.helloSeenBy).toEqual([0, 1, 2]);
      // Each job on the shared worker channel is received exactly once, spread over the workers.
      expect(result.jobs).toMatchObject({ count: 300, distinct: 300 });
      expect((result.jobs as { workers: number }).workers).toBeGreaterThan(1);
      // The killed worker's membership and connection are gone at once (no reconnect grace for a dead process).
      expect(result.afterKill).toMatchObject({ members: 2, clients: 2 });
      // The stream to a surviving worker arrived whole and in order.
      expect(result.stream).toEqual(Array.from({ length: 2000 }, (_, i) => i));
      // A worker forked after the crash is served by the same serveIpc(cluster).
      expect(result.againSeenBy).toEqual([0, 1, 3]);
      expect(result.membersAtEnd).toBe(3);
    } finally {
      primary.kill();
      await exited(primary);
    }
  }, 60_000);
});
