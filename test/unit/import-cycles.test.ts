/**
 * src has no import cycle (type-only imports included: a cycle of types is
 * still two files that cannot be understood one without the other). Found by
 * reading the import statements of every file, as a linter would.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../../src");

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms)) {
    found.push(resolve(dirname(file), m[1]!.replace(/\.js$/, ".ts")));
  }
  for (const m of text.matchAll(/\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g)) {
    found.push(resolve(dirname(file), m[1]!.replace(/\.js$/, ".ts")));
  }
  return found;
}

/** The import graph of src: each file and the files it imports. */
function srcGraph(): Map<string, string[]> {
  const files = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).map((f) => join(SRC, f));
  return new Map(files.map((f) => [f, imports(f)]));
}

/** Every cycle of `graph`, as the files of one strongly connected component (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(relative(SRC, w));
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const f of graph.keys()) if (!index.has(f)) visit(f);
  return found;
}

describe("src has no import cycle", () => {
  it("reads the relative imports of a file", () => {
    expect(imports(join(SRC, "index.ts")).length).toBeGreaterThan(10);
  });

  it("finds a cycle, type-only or through a third file", () => {
    const graph = new Map([
      [join(SRC, "a.ts"), [join(SRC, "b.ts")]],
      [join(SRC, "b.ts"), [join(SRC, "c.ts")]],
      [join(SRC, "c.ts"), [join(SRC, "a.ts")]],
      [join(SRC, "d.ts"), [join(SRC, "a.ts")]],
    ]);
    expect(cycles(graph)).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });

  it("finds none in src", () => {
    expect(cycles(srcGraph()).map((c) => c.join(" ↔ "))).toEqual([]);
  });
});
