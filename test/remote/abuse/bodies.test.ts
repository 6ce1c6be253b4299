/**
 * Message bodies are opaque to the broker: a client may send any bytes as
 * one. The broker decodes a body in one place only, to wrap a dropped
 * message for the dead-letter channel; bytes that are not msgpack must not
 * throw there (on expiry that runs in the sweeper's timer: an uncaught
 * exception, the broker gone).
 */
import { afterEach, expect, it, vi } from "vitest";
import { Consumer, InvalidMessageError, RemoteChannelLayer, type BrokerServer, type Message } from "../../../src/index.js";
import { Op, Status } from "../../../src/protocol/ops.js";
import { hello, rawClient, startBroker } from "../helpers.js";

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
    hello("attacker1"),
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

it("a body that is no message fails that one receive with InvalidMessageError; the next receive, and a consumer in the group, go on", async () => {
  const { server, url } = await startBroker({});
  open.push(server as BrokerServer);
  const attacker = rawClient(url);
  open.push({ close: () => attacker.socket.destroy() });
  attacker.send(hello("attacker2"));
  expect((await attacker.answer(1))[1]).toBe(Status.Ok);
  const noMessages = [Buffer.from([0x92, 0x01]), Buffer.from([0x05]), Buffer.from([0x91, 0x01]), Buffer.from([0xc4, 0x01, 0x00])]; // cut short, 5, [1], bytes

  // A plain receive: each bad body fails its own receive, with the layer's error for a bad message.
  const layer = new RemoteChannelLayer(url);
  open.push(layer);
  noMessages.forEach((body, i) => attacker.send([Op.Send, 10 + i, "inbox", body]));
  await layer.send("inbox", { type: "good" });
  for (let i = 0; i < noMessages.length; i++) {
    await expect(layer.receive("inbox")).rejects.toMatchObject({ name: "InvalidMessageError", code: "ERR_INVALID_MESSAGE" });
  }
  expect(await layer.receive("inbox")).toEqual({ type: "good" });

  // A consumer in a group: the bad bodies are reported, and it stays in its group for what follows.
  const errors: unknown[] = [];
  const got: Message[] = [];
  class Member extends Consumer {
    override groups = ["room"];
    chat_message(message: Message): void {
      got.push(message);
    }
  }
  const member = new Member({ layer, onError: (error) => errors.push(error) });
  const withDefaultHook = new Member({ layer });
  open.push({ close: () => member.stop() }, { close: () => withDefaultHook.stop() });
  await member.start();
  await withDefaultHook.start();
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void logged.push(args);
  try {
    noMessages.forEach((body, i) => attacker.send([Op.GroupSend, 20 + i, "room", body]));
    expect((await attacker.answer(20 + noMessages.length - 1))[1]).toBe(Status.Ok);
    await layer.groupSend("room", { type: "chat.message", text: "still here" });
    await vi.waitFor(() => expect(got).toHaveLength(2));
  } finally {
    console.error = original;
  }
  expect(got).toEqual([{ type: "chat.message", text: "still here" }, { type: "chat.message", text: "still here" }]);
  expect(member.stopped || withDefaultHook.stopped).toBe(false);
  // Another client's doing, not the app's: one line each, no stack.
  expect(logged).toHaveLength(noMessages.length);
  for (const line of logged) expect(line).toEqual([expect.stringMatching(/^\[channel-layers\] Member: a body received was not a message/)]);
  expect(errors).toHaveLength(noMessages.length);
  for (const error of errors) expect(error).toBeInstanceOf(InvalidMessageError);
});
