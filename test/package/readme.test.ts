/**
 * The docs as a newcomer meets them. The README's quick start is run: the
 * first ts block under "## Quick start", with the package import pointed at
 * the sources. Every ts block of README.md and docs/ that starts with an
 * import is typechecked as a reader's strict project would check it. Every
 * relative link leads to a file, and an anchor to a heading, that exists.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import ts from "typescript";
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

const pages = [
  "README.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** A page's text without its code blocks. */
function prose(file: string): string {
  return readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
}

/** The anchors of a page's headings, as GitHub makes them. */
function anchors(file: string): string[] {
  const slugs = [...prose(file).matchAll(/^#+ (.*)$/gm)].map((m) =>
    m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-"),
  );
  return slugs.map((s, i) => (slugs.indexOf(s) === i ? s : `${s}-${slugs.slice(0, i).filter((t) => t === s).length}`));
}

it("every relative link in README.md and docs/ points at a file, and a heading, that exists", () => {
  const broken: string[] = [];
  for (const page of pages) {
    for (const [, target] of prose(join(root, page)).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [path, anchor] = target!.split("#");
      const file = path === "" ? join(root, page) : resolve(dirname(join(root, page)), path!);
      if (!existsSync(file)) broken.push(`${page} → ${target}`);
      else if (anchor !== undefined && file.endsWith(".md") && !anchors(file).includes(anchor)) broken.push(`${page} → ${target}`);
    }
  }
  expect(broken).toEqual([]);
});

/** Names the docs leave to the reader: their HTTP app, their own functions, a layer made earlier on the page. */
const PLACEHOLDERS = `
import type { RequestListener } from "node:http";
import type { ChannelLayer } from "channel-layers";
declare global {
  const app: RequestListener;
  const layer: ChannelLayer;
  const log: { error(fields: object): void };
  function lookUp(sku: string): Promise<number>;
}
`;

/**
 * Every ts block of README.md and docs/ that starts with an import (after
 * comment lines, such as a file name): a whole program a reader may copy. A block without one continues an earlier block
 * on its page and is not checked on its own.
 */
function programBlocks(): Array<{ page: string; line: number; code: string }> {
  const blocks: Array<{ page: string; line: number; code: string }> = [];
  for (const page of pages) {
    const text = readFileSync(join(root, page), "utf8");
    for (const m of text.matchAll(/^```ts\n([\s\S]*?)^```/gm)) {
      if (!/^(\/\/.*\n)*import /.test(m[1]!)) continue;
      blocks.push({ page, line: text.slice(0, m.index).split("\n").length + 1, code: m[1]! });
    }
  }
  return blocks;
}

it("every ts block of the docs that starts with an import typechecks against the package's types", () => {
  const blocks = programBlocks();
  expect(blocks.length).toBeGreaterThan(10);
  const dir = join(root, "test/package/doc-snippets"); // never written: the compiler host serves these files
  const files = new Map<string, string>([
    [join(dir, "placeholders.ts"), PLACEHOLDERS],
    [join(dir, "my-layer.ts"), 'export { InMemoryChannelLayer as MyLayer } from "channel-layers";\n'],
  ]);
  const origin = new Map<string, { page: string; line: number }>();
  blocks.forEach((block, i) => {
    // A block that names its file ("// server.ts") is that file, for the blocks after it that import it.
    const named = /^\/\/ ([\w-]+\.ts)\n/.exec(block.code)?.[1];
    const file = join(dir, named !== undefined && !files.has(join(dir, named)) ? named : `block${i}.ts`);
    files.set(file, block.code);
    origin.set(file, block);
  });
  // A reader's strict project; the package's entry points are read from src/, so no build is needed.
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2023.d.ts"],
    types: ["node"],
    strict: true,
    noImplicitOverride: true,
    skipLibCheck: true,
    noEmit: true,
    baseUrl: root,
    paths: {
      "channel-layers": ["src/index.ts"],
      "channel-layers/testing": ["src/testing/index.ts"],
      "channel-layers/observe": ["src/observe/index.ts"],
      "channel-layers/browser": ["src/browser/index.d.ts"],
    },
  };
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile, directoryExists } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f) ?? readFile.call(host, f);
  host.directoryExists = (d) => d === dir || (directoryExists?.call(host, d) ?? true);
  host.getSourceFile = (f, language, ...rest) => {
    const text = files.get(f);
    return text === undefined ? getSourceFile.call(host, f, language, ...rest) : ts.createSourceFile(f, text, language);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const problems = [...files.keys()].flatMap((file) => {
    const source = program.getSourceFile(file)!;
    return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((d) => {
      const line = source.getLineAndCharacterOfPosition(d.start ?? 0).line;
      const at = origin.get(file);
      return `${at ? `${at.page}:${at.line + line}` : file}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
  });
  expect(problems).toEqual([]);
}, 30_000);
