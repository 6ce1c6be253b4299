/**
 * vitest, loaded only under vitest: `describeChannelLayer` registers its
 * cases with vitest's `describe` and `it`, and nothing else in the package
 * needs it, so the communicators work under any runner (or none) without
 * vitest installed.
 */
type Vitest = typeof import("vitest");

// vitest sets VITEST in the processes that run test files; there, a test file and this module import one vitest.
const loaded: Vitest | undefined = process.env.VITEST ? await import("vitest").catch(() => undefined) : undefined;

export function vitest(what: string): Vitest {
  if (loaded === undefined) {
    throw new Error(`${what} registers vitest tests: call it from a test file that vitest runs (npm install --save-dev vitest)`);
  }
  return loaded;
}
