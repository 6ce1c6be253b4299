/**
 * Message bodies are opaque to the broker: a client may send any bytes as
 * one. The broker decodes a body in one place only, to wrap a dropped
 * message for the dead-letter channel; bytes that are not msgpack must not
 * throw there (on expiry that runs in the sweeper's timer: an uncaught
 * exception, the broker gone).
 */
import { afterEach, expect, it } from "vitest";
import { RemoteChannelLayer, type BrokerServer } from "../../../src/index.js";
import { Op, PROTOCOL_VERSION, Status } from "../../../src/protocol/ops.js";
import { rawClient, startBroker } from "../helpers.js";

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  const all = open.splice(0).reverse();
  for (const x of all) await x.close();
});

it("bytes that are not msgpack, dropped (expired or pushed out), become dead letters carrying those bytes; the broker lives on", async () => {
  const { server, url } = await startBroker({
    expiry: 1,
    deadLetters: "dead",
    overflow: { feed: "drop-oldest" },
    channelCapacity: { feed: 1 },
  });
  open.push(server as BrokerServer);
  const garbage = Buffer.from([0x92, 0x01]); // an array of two that holds one: "Unexpected end of MessagePack data"
  const attacker = rawClient(url);
  open.push({ close: () => attacker.socket.destroy() });
  attacker.send(
    [Op.Hello, 1, PROTOCOL_VERSION, "attacker1", null],
    [Op.Send, 2, "jobs", garbage], // expires in a second: dropped in the sweeper's timer
    [Op.Send, 3, "feed", garbage],
    [Op.Send, 4, "feed", garbage], // pushes the first one out
  );
  expect((await attacker.answer(4))[1]).toBe(Status.Ok);

  const good = new RemoteChannelLayer(url);
  open.push(good);
  const letters = [await good.receive("dead"), await good.receive("dead")];
  expect(letters.map((l) => [l.reason, l.channel]).sort()).toEqual([
    ["expired", "jobs"],
    ["overflow", "feed"],
  ]);
  for (const letter of letters) expect(Buffer.from(letter.message as Uint8Array)).toEqual(garbage);
  // The broker still serves.
  await good.send("after", { type: "ping" });
  expect((await good.receive("after")).type).toBe("ping");
});
