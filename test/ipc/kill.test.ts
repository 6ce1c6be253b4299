/**
 * SPEC §4.10 over IPC: a consumer in a forked child, receiving with the
 * default read-ahead, is SIGKILLed mid-stream; what it held ahead is back in
 * the parent's broker at once, so at most the message in hand is lost.
 */
import { expect, it } from "vitest";
import { serveIpc } from "../../src/index.js";
import { decodeMessage, encodeMessage } from "../../src/dependencies/msgpack.js";
import { forkChild } from "../children.js";
import { sleep } from "../conformance/helpers.js";

it("a consumer holding read-ahead is SIGKILLed: the rest drains from the broker, at most the message in hand lost, none twice", async () => {
  const total = 1000;
  const fixture = new URL("../remote/fixtures/consumer.ts", import.meta.url);
  const child = forkChild(fixture, ["ipc://", "work"], { stdio: ["ignore", "pipe", "inherit", "ipc"] });
  const server = serveIpc(child, { capacity: total });
  try {
    await server.ready;
    const engine = server.broker.engine;
    for (let i = 0; i < total; i++) engine.send("work", encodeMessage({ type: "n", i }));
    let out = "";
    child.stdout!.setEncoding("utf8");
    await new Promise<void>((resolve) => {
      child.stdout!.on("data", (chunk: string) => {
        out += chunk;
        if (out.split("\n").length > 100 && child.exitCode === null && !child.killed) child.kill("SIGKILL");
      });
      child.on("exit", () => resolve());
    });
    const first = out.split("\n").filter(Boolean).map(Number);
    expect(first.length).toBeGreaterThan(50);
    await sleep(50);
    expect(server.broker.stats().heldAhead).toBe(0);
    const second: number[] = [];
    for (let body = engine.take("work"); body !== undefined; body = engine.take("work")) {
      engine.settle("work", 1);
      second.push(decodeMessage(body).i as number);
    }
    const seen = new Set([...first, ...second]);
    expect(first.length + second.length - seen.size).toBe(0); // none twice
    expect(total - seen.size).toBeLessThanOrEqual(1); // at most the one in hand
    expect(second).toEqual([...second].sort((x, y) => x - y));
  } finally {
    child.kill();
    await server.close();
  }
});
