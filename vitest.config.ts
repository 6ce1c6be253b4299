import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Fail the run, not just warn, when a test leaves a handle that keeps the process alive.
    teardownTimeout: 10_000,
  },
});
