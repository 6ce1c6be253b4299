/**
 * The README's quick start, run as a newcomer would run it: the first ts block
 * under "## Quick start", with the package import pointed at the sources.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");

function quickStart(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.split(/^## Quick start$/m)[1]!.split(/^## /m)[0]!;
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error("README's Quick start has no ts block");
  return block[1]!;
}

it("the README quick start runs, prints what its comments say and exits 0", async () => {
  const code = quickStart();
  expect(code).toContain('from "channel-layers"');
  const dir = mkdtempSync(join(tmpdir(), "channel-layers-readme-"));
  try {
    const file = join(dir, "quick-start.mts");
    writeFileSync(file, code.replaceAll('from "channel-layers"', `from ${JSON.stringify(pathToFileURL(join(root, "src/index.ts")).href)}`));
    const env = { ...process.env };
    delete env.CHANNEL_LAYER_URL;
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", file], { cwd: root, env, timeout: 20_000 });
    expect(stdout).toBe("hello\none\ntwo\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("every relative link in README.md and docs/ points at a file that exists", () => {
  const pages = ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(join(root, page), "utf8").replace(/```[\s\S]*?```/g, "");
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!) || target!.startsWith("#")) continue;
      const path = resolve(dirname(join(root, page)), target!.split("#")[0]!);
      if (!existsSync(path)) broken.push(`${page} → ${target}`);
    }
  }
  expect(broken).toEqual([]);
});
