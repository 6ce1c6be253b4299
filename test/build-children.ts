/**
 * vitest globalSetup (the system tier): bundles the entry points that tests
 * run as child processes (CHILD_ENTRIES in test/children.ts) from the current
 * sources, once per run, and names the bundles' folder in
 * CHANNEL_LAYERS_TEST_BUILD for the test files and their children. Removed
 * when the run ends.
 *
 * Each entry is one self-contained bundle of our code (packages stay imports
 * from node_modules, which is why the folder lives under node_modules/.cache).
 * `import.meta.url` (and `dirname`, `filename`) keep naming the source file,
 * as under tsx, so a file found beside the source (package.json for
 * `version`, the browser client) is the same file.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";
import { BUILD_VARIABLE, CHILD_ENTRIES, ROOT } from "./children.js";

/** Rewrites `import.meta.url`, `.dirname` and `.filename` in our files to the source file's own. */
const sourceLocations: Plugin = {
  name: "source-locations",
  setup(b) {
    b.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
      if (args.path.includes("/node_modules/")) return undefined;
      const text = readFileSync(args.path, "utf8")
        .replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll("import.meta.dirname", JSON.stringify(dirname(args.path)))
        .replaceAll("import.meta.filename", JSON.stringify(args.path));
      return { contents: text, loader: /\.[cm]?ts$/.test(args.path) ? "ts" : "js", resolveDir: dirname(args.path) };
    });
  },
};

export default async function setup(): Promise<() => void> {
  const parent = join(ROOT, "node_modules/.cache/channel-layers-test");
  mkdirSync(parent, { recursive: true });
  // A run that was killed left its folder behind: the folder names its process.
  for (const left of readdirSync(parent))
    if (!running(Number(/^run-(\d+)-/.exec(left)?.[1]))) rmSync(join(parent, left), { recursive: true, force: true });
  const out = mkdtempSync(join(parent, `run-${process.pid}-`));
  try {
    await build({
      entryPoints: CHILD_ENTRIES.map((entry) => join(ROOT, entry)),
      outdir: out,
      outbase: ROOT,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      sourcemap: "linked",
      plugins: [sourceLocations],
      logLevel: "warning",
    });
  } catch (err) {
    rmSync(out, { recursive: true, force: true });
    throw err;
  }
  process.env[BUILD_VARIABLE] = out;
  return () => rmSync(out, { recursive: true, force: true });
}

/** Whether process `pid` is alive (signal 0 checks without sending). */
function running(pid: number): boolean {
  if (!Number.isInteger(pid)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
