/**
 * Comments that cite a rule cite the docs in the repository, and every
 * "docs/semantics.md §N.M" they cite is a numbered rule there.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const sources = (readdirSync(join(root, "src"), { recursive: true }) as string[])
  .filter((f) => /\.(ts|js)$/.test(f))
  .map((f) => ({ file: `src/${f}`, text: readFileSync(join(root, "src", f), "utf8") }));

it("no comment cites a rule kept outside the repository (SPEC, REDIS-WIRE, DESIGN, issue numbers)", () => {
  const outside = /SPEC §|REDIS-WIRE|DESIGN|issue [0-9]|docs\/ipc/;
  const found = sources.flatMap(({ file, text }) =>
    text.split("\n").flatMap((line, i) => (outside.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
  );
  expect(found).toEqual([]);
});

it("every docs/semantics.md section cited in src exists", () => {
  const semantics = readFileSync(join(root, "docs/semantics.md"), "utf8");
  const sections = new Set<string>();
  let chapter = "";
  for (const line of semantics.split("\n")) {
    const heading = /^## (\d+)\. /.exec(line);
    if (heading) sections.add((chapter = heading[1]!));
    const item = /^(\d+)\. /.exec(line);
    if (item && chapter) sections.add(`${chapter}.${item[1]}`);
  }
  const missing: string[] = [];
  for (const { file, text } of sources) {
    for (const cite of text.matchAll(/docs\/semantics\.md (§[\d.]+(?:, §[\d.]+)*)/g)) {
      for (const section of cite[1]!.split(", ")) {
        const number = section.slice(1).replace(/\.$/, "");
        if (!sections.has(number)) missing.push(`${file}: ${section}`);
      }
    }
  }
  expect(missing).toEqual([]);
});
