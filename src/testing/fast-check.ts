/**
 * fast-check, for the conformance suite's random model test: loaded only
 * under vitest, like vitest itself (./vitest.ts), and optional — a project
 * without it runs every other case and sees the model case skipped, with
 * the reason in its title.
 */
type FastCheck = typeof import("fast-check");

const loaded: FastCheck | undefined = process.env.VITEST
  ? await import("fast-check").then((m) => (m.default ?? m) as FastCheck).catch(() => undefined)
  : undefined;

export function fastCheck(): FastCheck | undefined {
  return loaded;
}
