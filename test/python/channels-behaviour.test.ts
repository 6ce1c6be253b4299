/**
 * Channels' own layer behaviour (what its InMemoryChannelLayer tests check),
 * as a stdlib unittest script against BrokerChannelLayer on real brokers:
 * one with default settings, one with capacity 3, one with expiry 0.1 s.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { BrokerServer } from "../../src/index.js";
import { PYTHON } from "../redis/python-peer.js";
import { startBroker } from "../remote/helpers.js";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("./channels_behaviour.py", import.meta.url));

const servers: BrokerServer[] = [];
const urls: Record<string, string> = {};

beforeAll(async () => {
  for (const [key, options] of [["url", {}], ["capacity_url", { capacity: 3 }], ["expiry_url", { expiry: 0.1 }]] as const) {
    const { server, url } = await startBroker({ ...options, log: () => undefined });
    servers.push(server);
    urls[key] = url;
  }
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

it("Channels' layer test cases pass against BrokerChannelLayer", async () => {
  const result = await run(PYTHON, [SCRIPT, JSON.stringify(urls)], { timeout: 60_000 }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`the Python layer tests failed:\n${err.stderr ?? err.message}`);
  });
  // unittest reports on stderr: every case by name, then "OK".
  expect(result.stderr).toMatch(/Ran (\d+) tests[\s\S]*\nOK\n?$/);
  expect(Number(/Ran (\d+) tests/.exec(result.stderr)![1])).toBe(18);
}, 90_000);
