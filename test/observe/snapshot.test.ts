/** The sampler behind the status page: rates from counters, a bounded history, watchers. */
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { Sampler, type Snapshot } from "../../src/observe/snapshot.js";
import { Broker } from "../../src/protocol/broker.js";

// The sampler ticks on setInterval and times its rates with performance.now(): both faked, so each
// test moves time by exactly what it says, however loaded the machine (real 20 ms ticks were missed).
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "Date", "performance"] });
});
const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const x of open.splice(0).reverse()) x.close();
  vi.useRealTimers();
});
const sleep = (ms: number): Promise<void> => vi.advanceTimersByTimeAsync(ms).then(() => undefined);

function setup(options: ConstructorParameters<typeof Sampler>[1]) {
  const broker = new Broker();
  const sampler = new Sampler(broker, options);
  open.push(broker, sampler);
  return { broker, sampler };
}


it("turns counter growth into messages per second, per interval", async () => {
  const { broker, sampler } = setup({ interval: 100 });
  while (sampler.snapshot().rates.length === 0) await sleep(10);
  const body = Buffer.from([0x80]);
  for (let i = 0; i < 50; i++) broker.engine.send("c", body);
  for (let i = 0; i < 20; i++) broker.engine.take("c");
  broker.engine.settle("c", 20); // the client says it took them
  await sleep(250);
  const rates = sampler.snapshot().rates;
  // Per-second rates times each interval's length add up to the counts (the traffic came after the first point).
  let sent = 0;
  let received = 0;
  for (let i = 1; i < rates.length; i++) {
    const seconds = (rates[i]!.at - rates[i - 1]!.at) / 1000;
    sent += rates[i]!.sent * seconds;
    received += rates[i]!.received * seconds;
  }
  expect(sent).toBeGreaterThan(45);
  expect(sent).toBeLessThan(55);
  expect(received).toBeGreaterThan(18);
  expect(received).toBeLessThan(22);
  expect(rates.every((p) => p.expired === 0 && p.dropped === 0)).toBe(true);
});

it("keeps only the last `history` rate points", async () => {
  const { sampler } = setup({ interval: 10, history: 3 });
  await sleep(120);
  expect(sampler.snapshot().rates).toHaveLength(3);
});

it("sends watchers the newest point only, and stops when they leave", async () => {
  const { sampler } = setup({ interval: 20 });
  const seen: Snapshot[] = [];
  const stop = sampler.watch((s) => seen.push(s));
  await sleep(110);
  stop();
  const count = seen.length;
  expect(count).toBeGreaterThanOrEqual(2);
  expect(seen.every((s) => s.rates.length === 1)).toBe(true);
  await sleep(60);
  expect(seen).toHaveLength(count);
});
