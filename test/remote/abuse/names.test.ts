/**
 * Names are private (docs/security.md, attack table): a token that may send to
 * `reply.*` asked Stats(top) for the live reply channels of other clients'
 * requests and forged their replies. Stats now show a token without admin
 * rights only its own connections, the channels it may receive from and the
 * groups it may use.
 */
import { afterEach, expect, it } from "vitest";
import { RemoteChannelLayer, type BrokerServer } from "../../../src/index.js";
import { parseTokenFile } from "../../../src/protocol/auth.js";
import { Op, Status, type BrokerDetails } from "../../../src/protocol/ops.js";
import { instanceIdOf } from "../../../src/protocol/identity.js";
import { hello, rawClient, startBroker } from "../helpers.js";

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

it("Stats(top) names to a token only what its rights cover: no other tenant's channels, groups or live reply channels to forge", async () => {
  const tokens = parseTokenFile(
    ["ops     admin", "shop    send=prices,a.private.* receive=a.private.* group=shop.*", "forger  send=reply.* receive=forger.* group=forger.*", ""].join("\n"),
    "tokens.txt",
  );
  const { server, url } = await startBroker({ tokens });
  open.push(server as BrokerServer);
  const shop = new RemoteChannelLayer(url, { token: "shop" });
  open.push(shop);
  // The shop's requests wait for a worker that is slow to come: their reply channels are live.
  const requests = Array.from({ length: 10 }, (_, i) => shop.request("prices", { type: "get", i }, { timeout: 1000 }).catch((e: unknown) => e));
  await shop.send("a.private.payroll", { type: "salary" });
  await shop.groupAdd("shop.customers", await shop.newChannel());
  await new Promise((r) => setTimeout(r, 100));
  const ops = new RemoteChannelLayer(url, { token: "ops" });
  open.push(ops);
  const all = await ops.details(100);
  expect(all.channelTop.map((c) => c.name)).toEqual(expect.arrayContaining(["a.private.payroll", expect.stringMatching(/^reply\./)]));
  expect(all.groupTop.map((g) => g.name)).toContain("shop.customers");

  const forger = rawClient(url);
  open.push({ close: () => forger.socket.destroy() });
  forger.send(hello("forger-secret", "forger"));
  expect((await forger.answer(1))[1]).toBe(Status.Ok);
  forger.send([Op.Stats, 2, 100]);
  const seen = (await forger.answer(2))[2] as BrokerDetails & { channels: number };
  expect(seen.channelTop).toEqual([]);
  expect(seen.groupTop).toEqual([]);
  expect(seen.clientList.filter((c) => c.instance !== instanceIdOf("forger-secret"))).toEqual([]);
  expect(JSON.stringify(seen)).not.toMatch(/reply\.|payroll|customers/);
  expect(seen.channels).toBeGreaterThanOrEqual(12); // counts stay whole
  // The shop sees its own names.
  const own = await shop.details(100);
  expect(own.channelTop.map((c) => c.name)).toContain("a.private.payroll");
  expect(own.channelTop.filter((c) => c.name.startsWith("reply.")).length).toBeGreaterThan(0);
  expect(own.groupTop.map((g) => g.name)).toEqual(["shop.customers"]);
  // Nobody answered: the requests time out rather than take a forged reply.
  for (const r of await Promise.all(requests)) expect(r).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
});
