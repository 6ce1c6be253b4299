/**
 * Attack-table row 1: one 700 KB frame of 100k Stats(top=100) requests,
 * after 100 long channel and group names, asks for gigabytes of answers.
 * The broker must stay up, its memory bounded, and the good client served.
 */
import type { Socket } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Op } from "../../../src/protocol/ops.js";
import { childBroker, closedWithin, frameBytes, goodClient, helloFrame, rawSocket, sleep, type ChildBroker } from "./helpers.js";

let broker: ChildBroker;
beforeAll(async () => {
  broker = await childBroker();
});
afterAll(() => broker.stop());

it("survives the stats amplification frame; only the attacker's session pays", async () => {
  const attacker: Socket = await rawSocket(broker.port);
  const long = (kind: string, i: number): string => `${kind}.${i}.`.padEnd(99, "x");
  const setup: unknown[][] = [helloFrame("attacker")];
  let id = 2;
  for (let i = 0; i < 100; i++) {
    setup.push([Op.Send, id++, long("c", i), Buffer.from([0x80])]);
    setup.push([Op.GroupAdd, id++, long("g", i), long("m", i)]);
  }
  attacker.write(frameBytes(...setup));
  await sleep(200);
  const storm: unknown[][] = [];
  for (let i = 0; i < 100_000; i++) storm.push([Op.Stats, id++, 100]);
  const frame = frameBytes(...storm);
  expect(frame.length).toBeLessThan(1024 * 1024);
  const before = broker.rssMb();
  // The attacker never reads; the good client runs meanwhile.
  attacker.pause();
  attacker.write(frame);
  const good = await goodClient(broker.url, 4000);
  expect(broker.alive()).toBe(true);
  expect(good.failures).toBe(0);
  expect(good.ops).toBeGreaterThan(100);
  // Bounded: the answers owed to one client stop at its budget, not at gigabytes.
  expect(broker.rssMb() - before).toBeLessThan(300);
  attacker.destroy();
  await closedWithin(attacker, 1000);
  // Still serving after the attacker left.
  expect((await goodClient(broker.url, 300)).failures).toBe(0);
  expect(broker.alive()).toBe(true);
}, 30_000);
