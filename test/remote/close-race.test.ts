/** close() of a client and of its broker at the same moment: both end, promptly (clean exit, docs/semantics.md §4.8). */
import { expect, it } from "vitest";
import { BrokerServer, RemoteChannelLayer } from "../../src/index.js";

it("a client closed while its broker closes, with messages() running, ends at once instead of waiting forever", async () => {
  const server = new BrokerServer({ listen: "tcp://127.0.0.1:0", log: () => undefined });
  await server.listen();
  const url = server.addresses[0]!;
  const layer = new RemoteChannelLayer(url);
  const sender = new RemoteChannelLayer(url);
  let seen = 0;
  const loop = (async () => {
    for await (const _message of layer.messages("race")) seen++;
  })();
  for (let i = 0; i < 50; i++) await sender.send("race", { type: "m", i });
  while (seen === 0) await new Promise((r) => setTimeout(r, 5));
  const started = Date.now();
  // Before the fix the client's close waited for a link that had already gone: it never settled.
  await Promise.all([layer.close(), server.close(), sender.close()]);
  await loop;
  expect(Date.now() - started).toBeLessThan(2500);
});
