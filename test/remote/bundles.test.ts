/**
 * Bundles (Status.Bundle): a group send reaching several of one client's
 * waiting receives is one frame, body written once, for a client that offered
 * Feature.Bundles in its hello, and a frame per receive for one that did not
 * (an older client, the Python one); the layer reads a bundle as the answers
 * it stands for, so each channel keeps its order and its capacity.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChannelFullError, RemoteChannelLayer, type BrokerServer } from "../../src/index.js";
import { encodeMessage } from "../../src/dependencies/msgpack.js";
import { newInstanceSecret } from "../../src/protocol/identity.js";
import { Feature, Op, ReceiveMode, Status } from "../../src/protocol/ops.js";
import { hello, rawClient, startBroker, type RawClient } from "./helpers.js";

let server: BrokerServer;
let url: string;

beforeAll(async () => ({ server, url } = await startBroker()));
afterAll(async () => server.close());

/** A raw client said hello, with `features` (none: the frame an older client sends). */
async function client(features?: number): Promise<RawClient> {
  const raw = rawClient(url);
  const frame = hello(newInstanceSecret());
  raw.send(features === undefined ? frame : [...frame, features]);
  const [, status] = await raw.answer(1);
  expect(status).toBe(Status.Ok);
  return raw;
}

/** Add channels c0…c(n-1) of `prefix` to a group, each with a standing receive for two (ids 100…); then a group send from another client. */
async function sendToWaiting(raw: RawClient, prefix: string, n: number): Promise<Buffer> {
  const group = `${prefix}g`;
  for (let i = 0; i < n; i++) raw.send([Op.GroupAdd, 10 + i, group, `${prefix}.c${i}`]);
  for (let i = 0; i < n; i++) raw.send([Op.Receive, 100 + i, `${prefix}.c${i}`, 2, ReceiveMode.Standing, 2]);
  raw.send([Op.Ping, 99]); // answered once the broker has read (and registered) everything before it
  await raw.answer(99);
  const sender = await client(Feature.Bundles);
  const body = encodeMessage({ type: "m", text: "hello room" });
  sender.send([Op.GroupSend, 3, group, body]);
  await sender.answer(3);
  sender.socket.destroy();
  return body;
}

/** Wait until `done` holds of what `raw` got (or 2 s passed). */
async function until(raw: RawClient, done: (frames: unknown[][]) => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!done(raw.frames) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe("bundles", () => {
  it("a client that offered them gets one frame for a group send to its waiting receives", async () => {
    const raw = await client(Feature.Bundles);
    const body = await sendToWaiting(raw, "bundled", 5);
    await until(raw, (frames) => frames.some((f) => f[1] === Status.Bundle));
    const bundles = raw.frames.filter((f) => f[0] === 0);
    expect(bundles).toHaveLength(1);
    const [id, status, got, , , ...entries] = bundles[0]!;
    expect([id, status]).toEqual([0, Status.Bundle]);
    expect(Buffer.from(got as Uint8Array)).toEqual(body);
    // Every receive stands for one more (credit 2): each is answered Partial, in the order they joined.
    expect(entries).toEqual([100, Status.Partial, 101, Status.Partial, 102, Status.Partial, 103, Status.Partial, 104, Status.Partial]);
    expect(raw.frames.filter((f) => typeof f[0] === "number" && f[0] >= 100)).toEqual([]);
    raw.socket.destroy();
  });

  it("a client that did not (an older one, the Python one) gets a frame per receive", async () => {
    const raw = await client();
    const body = await sendToWaiting(raw, "plain", 5);
    await until(raw, (frames) => frames.filter((f) => (f[0] as number) >= 100).length === 5);
    expect(raw.frames.filter((f) => f[0] === 0)).toEqual([]);
    const answers = raw.frames.filter((f) => (f[0] as number) >= 100);
    expect(answers.map((f) => [f[0], f[1]])).toEqual([100, 101, 102, 103, 104].map((id) => [id, Status.Partial]));
    for (const f of answers) expect(Buffer.from(f[2] as Uint8Array)).toEqual(body);
    raw.socket.destroy();
  });

  it("the layer: every channel of a big group gets every message in order, direct sends between group sends included", async () => {
    const consumer = new RemoteChannelLayer(url);
    const sender = new RemoteChannelLayer(url);
    try {
      const members = await Promise.all(Array.from({ length: 300 }, () => consumer.newChannel("bundle.")));
      for (const m of members) await consumer.groupAdd("bundleroom", m);
      const got = members.map(() => [] as unknown[]);
      const loops = members.map(async (m, i) => {
        for (let j = 0; j < 12; j++) got[i]!.push((await consumer.receive(m)).n);
      });
      for (let k = 0; k < 10; k++) {
        await sender.groupSend("bundleroom", { type: "m", n: k });
        if (k === 4) for (const m of members.slice(0, 50)) await sender.send(m, { type: "m", n: "direct" });
      }
      for (const m of members.slice(50)) {
        await sender.send(m, { type: "m", n: "a" });
        await sender.send(m, { type: "m", n: "b" });
      }
      for (const m of members.slice(0, 50)) await sender.send(m, { type: "m", n: "a" });
      await Promise.all(loops);
      for (let i = 0; i < members.length; i++) {
        const expected = i < 50 ? [0, 1, 2, 3, 4, "direct", 5, 6, 7, 8, 9, "a"] : [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, "a", "b"];
        expect(got[i]).toEqual(expected);
      }
    } finally {
      await consumer.close();
      await sender.close();
    }
  });

  it("capacity still counts what a bundle handed over until the layer took it", async () => {
    const small = await startBroker({ capacity: 2 });
    const consumer = new RemoteChannelLayer(small.url);
    const sender = new RemoteChannelLayer(small.url);
    try {
      const members = await Promise.all(Array.from({ length: 20 }, () => consumer.newChannel("bundlecap.")));
      for (const m of members) await consumer.groupAdd("bundlecap", m);
      // Every member waits: the group send is one bundle; nothing is taken yet past the first receive.
      const first = members.map((m) => consumer.receive(m));
      await sender.groupSend("bundlecap", { type: "m", n: 0 });
      expect((await Promise.all(first)).map((m) => m.n)).toEqual(members.map(() => 0));
      // Two more fill each channel (the group send drops what does not fit, as channels_redis does); a direct send is refused.
      await sender.groupSend("bundlecap", { type: "m", n: 1 });
      await sender.groupSend("bundlecap", { type: "m", n: 2 });
      await sender.groupSend("bundlecap", { type: "m", n: 3 });
      await expect(sender.send(members[0]!, { type: "m", n: "x" })).rejects.toBeInstanceOf(ChannelFullError);
      for (const m of members) expect([(await consumer.receive(m)).n, (await consumer.receive(m)).n]).toEqual([1, 2]);
    } finally {
      await consumer.close();
      await sender.close();
      await small.server.close();
    }
  });
});
