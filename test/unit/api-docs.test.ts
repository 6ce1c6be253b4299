/**
 * docs/api.md names every export of every entry point, and nothing that is not
 * one; its links lead to pages and headings that exist. The exports are read
 * as the compiler sees them, types included.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const API = resolve(ROOT, "docs/api.md");
const ENTRIES = ["src/index.ts", "src/observe/index.ts", "src/testing/index.ts", "src/browser/index.d.ts"];

let names: string[] | undefined;

function exported(): string[] {
  return (names ??= readExports());
}

function readExports(): string[] {
  const files = ENTRIES.map((e) => resolve(ROOT, e));
  // No default library or @types, and dependencies' declarations read as empty modules: the entry points'
  // export lists come from our own sources only, and parsing node_modules' types tripled this file's time
  // (15 s to 5 s on a loaded machine). A re-export of a dependency's name would read as missing here, and fail.
  const options = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, noLib: true, types: [] };
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (file, language, ...rest) =>
    file.includes("/node_modules/") ? ts.createSourceFile(file, "export {};", language) : read(file, language, ...rest);
  const program = ts.createProgram(files, options, host);
  const checker = program.getTypeChecker();
  const exportsOf = (file: string): ts.Symbol[] => checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file)!)!);
  return files.flatMap((file) => exportsOf(file).map((s) => s.getName()));
}

/** The names in the first column of the page's tables. */
function documented(text: string): string[] {
  return [...text.matchAll(/^\| `([A-Za-z_][\w]*)` \|/gm)].map((m) => m[1]!);
}

/** A heading's anchor, as GitHub makes it. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

describe("docs/api.md", () => {
  const text = readFileSync(API, "utf8");

  // Compiling our sources is this test's whole cost, a few seconds of CPU and no wait on time; on a machine
  // loaded many times over it outlasted the default 30 s, so its bound is set for a hang, not for the work.
  it("finds the exports of the package, types included", { timeout: 120_000 }, () => {
    expect(exported()).toContain("ChannelLayer");
    expect(exported()).toContain("describeChannelLayer");
    expect(exported().length).toBeGreaterThan(100);
  });

  it("names every export, and only exports, once each", () => {
    const names = exported();
    const rows = documented(text);
    expect(names.filter((n) => !rows.includes(n))).toEqual([]);
    expect(rows.filter((n) => !names.includes(n))).toEqual([]);
    expect(rows.filter((n, i) => rows.indexOf(n) !== i)).toEqual([]);
  });

  it("links to pages and headings that exist", () => {
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const [path, anchor] = target!.split("#");
      const file = resolve(dirname(API), path!);
      if (!existsSync(file)) {
        broken.push(target!);
        continue;
      }
      if (anchor === undefined) continue;
      const headings = [...readFileSync(file, "utf8").matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1]!));
      if (!headings.includes(anchor)) broken.push(target!);
    }
    expect(broken).toEqual([]);
  });
});
