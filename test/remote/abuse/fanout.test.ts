/**
 * Work per turn counts deliveries (docs/security.md, attack table): one frame
 * of 200 group sends to a 50k-member group held every other client up for
 * 6.8 s when the turn's budget counted requests. It is now delivered a slice
 * a turn, and the good client's round trips go on beside it.
 */
import { afterEach, expect, it } from "vitest";
import { attacker, childBroker, goodClient, type ChildBroker } from "./helpers.js";

let broker: ChildBroker | undefined;
const stops: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((a) => a.stop()));
  await broker?.stop();
  broker = undefined;
});

it("200 group sends to a 50k-member group in one frame delay another client's round trips by under 100 ms (p99)", { timeout: 60_000 }, async () => {
  // Capacity 1: members keep one message each, and the other 199 of each are skipped (each a dead letter). With
  // the default 100 they would keep 5M messages, and the collector's pauses over that heap (up to 150 ms on a busy
  // machine; docs/security.md, Measured) would be what this test measured, not the turn's work.
  broker = await childBroker("--capacity", "1");
  const alone = await goodClient(broker.url, 1000);
  const fan = await attacker(
    broker.port,
    `const s = await rawSocket(port);
s.write(frameBytes(helloFrame("fanner")));
let id = 2;
for (let i = 0; i < 50_000; i += 5000) {
  const adds = [];
  for (let j = i; j < i + 5000; j++) adds.push([Op.GroupAdd, id++, "everyone", "member." + j]);
  s.write(frameBytes(...adds));
}
await new Promise((r) => s.write(frameBytes([Op.Ping, id++]), r));
await sleep(500);
const body = new Uint8Array([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa1, 0x78]); // {type: "x"}
s.write(frameBytes(...Array.from({ length: 200 }, () => [Op.GroupSend, id++, "everyone", body])));`,
  );
  stops.push(fan);
  const during = await goodClient(broker.url, 4000);
  console.log(`fan-out: good client p99/max ${alone.p99Ms.toFixed(1)}/${alone.maxMs.toFixed(1)} ms alone, ${during.p99Ms.toFixed(1)}/${during.maxMs.toFixed(1)} ms during (${during.ops} round trips)`);
  expect(broker.alive()).toBe(true);
  expect(during.failures).toBe(0);
  expect(during.p99Ms).toBeLessThan(100);
  // The slowest one is the machine's as much as the broker's (alone, on two busy shared cores: up to 73 ms); never seconds.
  expect(during.maxMs).toBeLessThan(1000);
});
