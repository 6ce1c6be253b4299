/** What the Python broker-layer tests share: the peer script and the values that must cross intact. */
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import type { Message } from "../../src/index.js";
import { fromTagged } from "../redis/python-peer.js";

/** test/python/broker_peer.py: a BrokerChannelLayer driven line by line (as PythonPeer drives channels_redis). */
export const BROKER_PEER = fileURLToPath(new URL("./broker_peer.py", import.meta.url));

/** The repository's Python package, which the Python scripts import rather than an installed copy. */
export const PYTHON_PACKAGE = fileURLToPath(new URL("../../python", import.meta.url));

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

/** VALUES as Python decoded them, reported in tagged JSON (test/redis/peer.py): bytes stay bytes, floats floats. */
export function expectPythonValues(tagged: unknown): void {
  expect((tagged as { float: unknown }).float).toEqual({ $float: 3.25 });
  expect((tagged as { bytes: unknown }).bytes).toEqual({ $bytes: Buffer.from([0, 1, 127, 128, 255]).toString("base64") });
  expectValues(fromTagged(tagged as Parameters<typeof fromTagged>[0]) as Message);
}
