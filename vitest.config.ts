import { defineConfig } from "vitest/config";

/*
 * Three tiers (docs/testing.md): `npm run test:unit`, `test:integration`,
 * `test:system`; `npm test` runs all three. A file is classed by where it
 * lives: UNIT and SYSTEM name what belongs there, and everything else —
 * a new file in a new folder too — is integration. Move a file into a tier
 * by what it really does, not by how long it takes.
 */

/** No socket, no process, no service: in-process code and fakes only. */
const UNIT = [
  // errors.test.ts opens a broker on TCP for its wire round trip: integration.
  "test/unit/**/!(errors).test.ts",
  "test/engine/**/*.test.ts",
  "test/property/**/*.test.ts",
  "test/memory/**/*.test.ts",
  "test/consumer/consumer.test.ts",
  "test/consumer/frames.test.ts",
  "test/consumer/routing.test.ts",
  "test/consumer/cookie-auth.test.ts",
  "test/consumer/resume-order.test.ts",
  "test/testing/chat.test.ts",
  "test/testing/communicator.test.ts",
  "test/testing/communicator-errors.test.ts",
  "test/testing/consumer.test.ts",
  "test/worker/worker.test.ts",
  "test/observe/snapshot.test.ts",
  // MessageChannel links inside one process (worker_threads ports, no thread started).
  "test/ipc/port-listeners.test.ts",
  "test/heal/ipc-restart.test.ts",
  "test/remote/port-link.test.ts",
  // ioredis-mock: ioredis' API over an in-process fake, no socket.
  "test/redis/mock.test.ts",
];

/** Child processes, Python, Chromium, the pack test, Redis servers of our own (clusters, sentinels, restarts). */
const SYSTEM = [
  "test/python/**/*.test.ts",
  "test/package/**/*.test.ts",
  "test/redis/cluster*.test.ts",
  "test/redis/sentinel*.test.ts",
  "test/redis/restart*.test.ts",
  "test/redis/interop.test.ts",
  "test/redis/presence-kill.test.ts",
  "test/redis/read-ahead.test.ts",
  "test/redis/wire.test.ts",
  "test/pubsub/interop.test.ts",
  "test/pubsub/restart.test.ts",
  "test/pubsub/django-chat.test.ts",
  "test/ipc/cluster.test.ts",
  "test/ipc/conformance.test.ts",
  "test/ipc/example.test.ts",
  "test/ipc/failure.test.ts",
  "test/ipc/kill.test.ts",
  "test/consumer/browser.test.ts",
  "test/consumer/demo.test.ts",
  "test/consumer/resume-browser.test.ts",
  "test/consumer/two-servers.test.ts",
  "test/gateway/cli.test.ts",
  "test/gateway/django.test.ts",
  "test/heal/broker-restart.test.ts",
  "test/heal/chaos.test.ts",
  "test/heal/health.test.ts",
  "test/heal/redis-restart.test.ts",
  "test/heal/serve.test.ts",
  "test/observe/cli.test.ts",
  "test/observe/cli-help.test.ts",
  "test/observe/status-page.test.ts",
  "test/remote/abuse/amplification.test.ts",
  "test/remote/abuse/attacks.test.ts",
  "test/remote/abuse/cache.test.ts",
  "test/remote/abuse/fanout.test.ts",
  "test/remote/abuse/stored.test.ts",
  "test/remote/abuse/http.test.ts",
  "test/remote/abuse/websocket.test.ts",
  "test/remote/history.test.ts",
  "test/remote/presence-kill.test.ts",
  "test/remote/presence-cli.test.ts",
  "test/remote/process.test.ts",
  "test/remote/protocol-ahead.test.ts",
  "test/remote/security.test.ts",
  "test/worker/processes.test.ts",
];

const ALL = ["test/**/*.test.ts"];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // How long vitest waits for its workers to close at the end of a run (it does not detect open handles).
    teardownTimeout: 10_000,
    // Files run side by side (vitest's default on 2 cores is one file at a time): three in integration,
    // whose tests wait on sockets; two in system, whose child processes keep both cores busy (~240 s of
    // CPU in all, ~360 s before they ran compiled bundles: a third file there only adds load, and the wall-clock tests suffer). Files that run together share nothing:
    // ports are the kernel's (port 0), Redis keys carry a random prefix (test/redis/helpers.ts), scratch files
    // live in mkdtemp directories, and the pack test alone writes dist/. `groupOrder` keeps the tiers one
    // after another in `npm test`, each with its own report and duration.
    projects: [
      { extends: true, test: { name: "unit", include: UNIT, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      // Everything named in neither list: the default tier.
      { extends: true, test: { name: "integration", include: ALL, exclude: [...UNIT, ...SYSTEM], maxWorkers: 3, sequence: { groupOrder: 1 } } },
      // test/build-children.ts bundles the entry points its tests run as child processes, once per run (test/children.ts).
      { extends: true, test: { name: "system", include: SYSTEM, globalSetup: ["test/build-children.ts"], maxWorkers: 2, sequence: { groupOrder: 2 } } },
    ],
  },
});
