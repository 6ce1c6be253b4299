/**
 * package.json's entry points, read as Node and TypeScript read them: every
 * subpath has `types` first and a `default` condition last (what require()
 * and bundlers without an "import" condition fall back on), and every target
 * is built from a source file that exists, the bin too. The pack test
 * (test/package/pack.test.ts) then loads them from a packed install.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  scripts: Record<string, string>;
};

/** The source a dist/ file is built from (src/browser is copied as it is). */
function sourceOf(target: string): string {
  const path = target.replace(/^\.\/dist\//, "src/");
  if (path.startsWith("src/browser/")) return path;
  return path.replace(/\.d\.ts$/, ".ts").replace(/\.js$/, ".ts");
}

it("every subpath has types first and a default condition last", () => {
  for (const [subpath, conditions] of Object.entries(pkg.exports)) {
    if (typeof conditions === "string") continue; // "./package.json"
    const keys = Object.keys(conditions);
    expect(keys[0], subpath).toBe("types");
    expect(keys.at(-1), subpath).toBe("default");
  }
});

it("every target of every subpath, and the bin, is built from a source that exists", () => {
  const targets = Object.values(pkg.exports).flatMap((c) => (typeof c === "string" ? [] : Object.values(c)));
  for (const target of [...targets, ...Object.values(pkg.bin)]) {
    expect(existsSync(join(root, sourceOf(target))), `${target} (from ${sourceOf(target)})`).toBe(true);
  }
});

it("npm start runs the bin the package installs", () => {
  const bin = pkg.bin["channel-layers"]!.replace(/^\.\//, "");
  expect(pkg.scripts.start).toContain(`node ${bin} serve`);
  expect(pkg.scripts.build).toContain(`chmodSync('${bin}'`);
});
