/**
 * A GroupSend's `except` list comes from the client: the broker checks it as
 * it checks every name, answers a bad one with an error, and serves on. Its
 * cost is one set of names, paid for in the frame's own bytes.
 */
import { afterEach, expect, it } from "vitest";
import { RemoteChannelLayer, type BrokerServer } from "../../../src/index.js";
import { encodeMessage } from "../../../src/dependencies/msgpack.js";
import { Op, Status } from "../../../src/protocol/ops.js";
import { helloClient, startBroker } from "../helpers.js";

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

it("a bad except list is refused with an error answer, delivers nothing, and the connection and broker go on", async () => {
  const { server, url } = await startBroker({});
  open.push(server as BrokerServer);
  const member = new RemoteChannelLayer(url);
  open.push(member);
  const ch = await member.newChannel();
  await member.groupAdd("room", ch);
  const raw = await helloClient(url);
  open.push({ close: () => raw.socket.destroy() });
  const body = encodeMessage({ type: "t" });
  const bad: unknown[] = ["not-a-list", 42, [ch, 7], ["has space"], [{ name: ch }]];
  bad.forEach((except, i) => raw.send([Op.GroupSend, 10 + i, "room", body, null, except]));
  for (let i = 0; i < bad.length; i++) expect((await raw.answer(10 + i))[1], JSON.stringify(bad[i])).not.toBe(Status.Ok);
  // A good one on the same connection: the member is left out; then one without except reaches it.
  raw.send([Op.GroupSend, 20, "room", body, null, [ch]], [Op.GroupSend, 21, "room", encodeMessage({ type: "after" })]);
  expect((await raw.answer(21))[1]).toBe(Status.Ok);
  expect(await member.receive(ch)).toEqual({ type: "after" });
});
