import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // How long vitest waits for its workers to close at the end of a run (it does not detect open handles).
    teardownTimeout: 10_000,
  },
});
