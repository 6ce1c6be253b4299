/**
 * How a test starts a TypeScript entry point in a child `node`: compiled, not
 * through tsx. A child that loads tsx spends ~0.8 s of CPU compiling and
 * resolving before it runs a line of ours, and the system tier starts about
 * two hundred of them. So, once per test run, test/build-children.ts bundles
 * every entry point below from the current sources (esbuild, which tsx ships)
 * and points `CHANNEL_LAYERS_TEST_BUILD` at the bundles; a child then costs
 * ~0.15 s. Outside a test run (the bench, a script by hand) the variable is
 * unset and children run the sources through tsx, as before.
 *
 *   spawn(process.execPath, [...nodeArgs(file), ...args], options)
 *   forkChild(file, args, options)
 */
import { fork, type ChildProcess, type ForkOptions } from "node:child_process";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The entry points tests run as children, relative to the repository. A new one goes here. */
export const CHILD_ENTRIES = [
  "src/cli/main.ts",
  "examples/chat/server.ts",
  "examples/cluster/server.ts",
  "test/consumer/fixtures/resume-server.ts",
  "test/ipc/fixtures/clean-exit.ts",
  "test/ipc/fixtures/cluster-app.ts",
  "test/ipc/fixtures/host.ts",
  "test/ipc/fixtures/member.ts",
  "test/ipc/fixtures/orphan.ts",
  "test/redis/consumer-child.ts",
  "test/remote/abuse/kit.ts",
  "test/remote/fixtures/consumer.ts",
  "test/remote/fixtures/presence-member.ts",
];

/** The variable that names this run's bundles (set by test/build-children.ts). */
export const BUILD_VARIABLE = "CHANNEL_LAYERS_TEST_BUILD";

/** What to run for `source` (a path or file URL): the bundle and no node flags, or the source through tsx. */
export function childEntry(source: string | URL): { file: string; execArgv: string[] } {
  const file = typeof source === "string" ? source : fileURLToPath(source);
  const build = process.env[BUILD_VARIABLE];
  if (build === undefined || build === "") return { file, execArgv: ["--import", "tsx"] };
  const entry = relative(ROOT, file);
  if (!CHILD_ENTRIES.includes(entry))
    throw new Error(`${entry} is run as a child but is not in CHILD_ENTRIES (test/children.ts): add it there`);
  return { file: join(build, entry.replace(/\.ts$/, ".js")), execArgv: [] };
}

/** Arguments for `spawn(process.execPath, [...nodeArgs(source), ...args])`. */
export function nodeArgs(source: string | URL): string[] {
  const { file, execArgv } = childEntry(source);
  return [...execArgv, file];
}

/** `child_process.fork(source, args, options)`, compiled; node flags in `options.execArgv` come first. */
export function forkChild(source: string | URL, args: string[] = [], options: ForkOptions = {}): ChildProcess {
  const { file, execArgv } = childEntry(source);
  return fork(file, args, { ...options, execArgv: [...(options.execArgv ?? []), ...execArgv] });
}
