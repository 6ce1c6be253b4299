/** What the Python broker-layer tests share: the peer script and the values that must cross intact. */
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import type { Message } from "../../src/index.js";
import { expectValues } from "../redis/interop-values.js";
import { fromTagged } from "../redis/python-peer.js";

/** test/python/broker_peer.py: a BrokerChannelLayer driven line by line (as PythonPeer drives channels_redis). */
export const BROKER_PEER = fileURLToPath(new URL("./broker_peer.py", import.meta.url));

/** The repository's Python package, which the Python scripts import rather than an installed copy. */
export const PYTHON_PACKAGE = fileURLToPath(new URL("../../python", import.meta.url));

/** VALUES as Python decoded them, reported in tagged JSON (test/redis/peer.py): bytes stay bytes, floats floats. */
export function expectPythonValues(tagged: unknown): void {
  expect((tagged as { float: unknown }).float).toEqual({ $float: 3.25 });
  expect((tagged as { bytes: unknown }).bytes).toEqual({ $bytes: Buffer.from([0, 1, 127, 128, 255]).toString("base64") });
  expectValues(fromTagged(tagged as Parameters<typeof fromTagged>[0]) as Message);
}
