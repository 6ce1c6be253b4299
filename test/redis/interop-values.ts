/** Values of every kind a message may hold, which must cross between Node and Python intact (both Python layers' interop tests). */
import { expect } from "vitest";
import type { Message } from "../../src/index.js";

export const VALUES: Message = {
  type: "interop.values",
  text: "héllo wörld ✓ 😀",
  bytes: new Uint8Array([0, 1, 127, 128, 255]),
  nested: { list: [1, "two", [3, { four: 4.5 }]], empty: {}, none: null, yes: true },
  small: -7,
  wide: 2 ** 40,
  big: 2n ** 62n,
  negBig: -(2n ** 63n),
  float: 3.25,
};

/** VALUES as Node decoded them. */
export function expectValues(got: Message): void {
  expect(got.type).toBe("interop.values");
  expect(got.text).toBe(VALUES.text);
  expect([...(got.bytes as Uint8Array)]).toEqual([0, 1, 127, 128, 255]);
  expect(got.nested).toEqual(VALUES.nested);
  expect(got.small).toBe(-7);
  expect(got.wide).toBe(2 ** 40);
  expect(got.big).toBe(2n ** 62n);
  expect(got.negBig).toBe(-(2n ** 63n));
  expect(got.float).toBe(3.25);
}
