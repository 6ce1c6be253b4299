/**
 * Two rules of the broker protocol's layout (issue 24), read off the source
 * as a reviewer would: the session and the client stay of readable size, and
 * a frame's fields are read by position in one place only, the decoder
 * (src/protocol/decode.ts), and written by position only by the encoder
 * (src/protocol/encode.ts). Everything else handles typed requests and
 * answers, so a frame's layout changes in those two files and ops.ts.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const SRC = join(ROOT, "src");
const DECODER = "src/protocol/decode.ts";
const ENCODER = "src/protocol/encode.ts";

/** The most lines each of the two busiest protocol files may have. */
const MAX_LINES = 350;

/** `frame[3]`, `frames[0][2]`, `this.frame[1]`: a field of a frame by its position (`[i]` by a variable is a loop, not a layout). */
const POSITIONAL = /\bframe\??\.?\[\s*\d+\s*\]/g;
/** …as the target of an assignment (`=`, not `==`/`===`). */
const WRITE_AFTER = /^\s*=(?!=)/;

/** Every positional use of a frame field in `text`: its line and whether it writes the field. */
function positionalUses(text: string): { line: number; write: boolean }[] {
  return [...text.matchAll(POSITIONAL)].map((m) => ({
    line: text.slice(0, m.index).split("\n").length,
    write: WRITE_AFTER.test(text.slice(m.index + m[0].length)),
  }));
}

it(`src/protocol/session.ts and client.ts have at most ${MAX_LINES} lines each`, () => {
  for (const file of ["src/protocol/session.ts", "src/protocol/client.ts"]) {
    const lines = readFileSync(join(ROOT, file), "utf8").replace(/\n$/, "").split("\n").length;
    expect(lines, `${file}: move what belongs elsewhere into its own module`).toBeLessThanOrEqual(MAX_LINES);
  }
});

it("no frame field is read by position outside the decoder, nor written outside the encoder", () => {
  const files = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).map((f) => join(SRC, f));
  const misplaced: string[] = [];
  for (const path of files) {
    const file = relative(ROOT, path);
    if (file === DECODER) continue;
    for (const { line, write } of positionalUses(readFileSync(path, "utf8"))) {
      if (!write || file !== ENCODER) misplaced.push(`${file}:${line} ${write ? "writes" : "reads"} a frame field by position`);
    }
  }
  expect(misplaced).toEqual([]);
});

it("the check sees reads and writes, and tells them apart", () => {
  expect(positionalUses("const op = frame[0];\nframe.push(frame[0], frame[1]);")).toEqual([
    { line: 1, write: false },
    { line: 2, write: false },
    { line: 2, write: false },
  ]);
  expect(positionalUses("this.frame[1] = Status.Partial;\nif (frame[4] === 1) x();\nframe?.[2]")).toEqual([
    { line: 1, write: true },
    { line: 2, write: false },
    { line: 3, write: false },
  ]);
  expect(positionalUses("frames[i]; frame[i]; someframe[0]")).toEqual([]);
});
