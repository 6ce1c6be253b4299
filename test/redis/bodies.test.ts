/**
 * One rule for a body that is no message, on Redis and pub/sub as on the
 * broker (test/remote/abuse/bodies.test.ts): anyone who can write to Redis
 * may put any bytes in a channel. Each such body fails the one receive that
 * gets it with InvalidMessageError, is consumed and counted; the next
 * receive, and a Consumer, go on.
 */
import { Redis } from "ioredis";
import { afterEach, expect, it, vi } from "vitest";
import { Consumer, InvalidMessageError, runWorker, type Message } from "../../src/index.js";
import { packr } from "../../src/dependencies/msgpack.js";
import { RedisPubSubChannelLayer } from "../../src/redis/pubsub/layer.js";
import { cleanPrefix, makeLayer, REDIS_URL, testPrefix } from "./helpers.js";
import { needs } from "../services.js";

await needs("redis");

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

const NO_MESSAGES = [
  Buffer.from([0x81, 0xa1, 0x61, 0x01]), // {a: 1}: a map without "type"
  Buffer.from([0xd6, 0xff, 0x00, 0x00, 0x00, 0x01]), // a timestamp: a Date
  Buffer.from([0xc1]), // msgpack's never-used byte: msgpackr's C1Type
  Buffer.from([0x93, 0x01, 0x02, 0x03]), // an array
  Buffer.from("not msgpack at all"),
];

it("Redis: each member that is no message fails one receive with InvalidMessageError, is consumed and counted; the channel serves on", async () => {
  const prefix = testPrefix();
  const raw = new Redis(REDIS_URL);
  const layer = makeLayer(prefix);
  open.push(layer, { close: () => raw.disconnect() }, { close: () => cleanPrefix(prefix) });
  const now = Date.now() / 1000;
  for (const [i, body] of NO_MESSAGES.entries()) await raw.zadd(`${prefix}inbox`, now + i / 1000, Buffer.concat([Buffer.alloc(12), body]));
  await layer.send("inbox", { type: "good" });
  for (const _ of NO_MESSAGES) {
    await expect(layer.receive("inbox")).rejects.toMatchObject({ name: "InvalidMessageError", code: "ERR_INVALID_MESSAGE" });
  }
  expect(await layer.receive("inbox")).toEqual({ type: "good" });
  expect(layer.droppedMembers).toBe(NO_MESSAGES.length);
  expect(await raw.zcard(`${prefix}inbox`)).toBe(0);

  // A process-local channel named inside a map without "type": its own receive fails.
  const mine = await layer.newChannel();
  const [processKey, local] = [mine.slice(0, mine.indexOf("!") + 1), mine];
  const named = packr.pack({ __asgi_channel__: local });
  await raw.zadd(`${prefix}${processKey}`, Date.now() / 1000, Buffer.concat([Buffer.alloc(12), named]));
  await expect(layer.receive(mine)).rejects.toBeInstanceOf(InvalidMessageError);
  expect(layer.droppedMembers).toBe(NO_MESSAGES.length + 1);
});

it("Redis: a worker and a Consumer report each body that is no message in one line and go on", async () => {
  const prefix = testPrefix();
  const raw = new Redis(REDIS_URL);
  const layer = makeLayer(prefix);
  open.push(layer, { close: () => raw.disconnect() }, { close: () => cleanPrefix(prefix) });
  const lines: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void lines.push(args);
  open.push({ close: () => (console.error = original) });
  // A worker channel.
  const jobs: Message[] = [];
  const worker = runWorker(layer, "jobs", (m) => void jobs.push(m));
  open.push({ close: () => worker.stop() });
  for (const body of NO_MESSAGES) await raw.zadd(`${prefix}jobs`, Date.now() / 1000, Buffer.concat([Buffer.alloc(12), body]));
  await layer.send("jobs", { type: "job", n: 1 });
  await vi.waitFor(() => expect(jobs).toEqual([{ type: "job", n: 1 }]), { timeout: 5000 });
  expect(worker.failed).toBe(NO_MESSAGES.length);
  expect(lines.filter((l) => /^channel-layers worker on "jobs": a body received was not a message/.test(String(l[0])))).toHaveLength(NO_MESSAGES.length);
  // A consumer's own channel, named by a map without "type".
  const got: Message[] = [];
  const errors: unknown[] = [];
  class Member extends Consumer {
    chat_message(message: Message): void {
      got.push(message);
    }
  }
  const member = new Member({ layer, onError: (error) => errors.push(error) });
  open.push({ close: () => member.stop() });
  await member.start();
  const processKey = member.channelName.slice(0, member.channelName.indexOf("!") + 1);
  await raw.zadd(`${prefix}${processKey}`, Date.now() / 1000, Buffer.concat([Buffer.alloc(12), packr.pack({ __asgi_channel__: member.channelName })]));
  await layer.send(member.channelName, { type: "chat.message", text: "still here" });
  await vi.waitFor(() => expect(got).toEqual([{ type: "chat.message", text: "still here" }]), { timeout: 5000 });
  expect(errors).toHaveLength(1);
  expect(errors[0]).toBeInstanceOf(InvalidMessageError);
});

it("pub/sub: each published body that is no message fails one receive (a group member's too), counted; an oversized one is dropped unread", async () => {
  const prefix = testPrefix();
  const raw = new Redis(REDIS_URL);
  const layer = new RedisPubSubChannelLayer({ hosts: [REDIS_URL], prefix, maxMessageBytes: 1000 });
  open.push(layer, { close: () => raw.disconnect() });
  const ch = await layer.newChannel();
  await layer.listen(ch);
  await raw.publish(ch, Buffer.concat([Buffer.from([0x81, 0xa4]), Buffer.from("type"), Buffer.from([0xc5, 0x07, 0xd0]), Buffer.alloc(2000)])); // too large
  for (const body of NO_MESSAGES) await raw.publish(ch, body);
  await layer.send(ch, { type: "fine" });
  for (const _ of NO_MESSAGES) await expect(layer.receive(ch)).rejects.toMatchObject({ name: "InvalidMessageError" });
  expect((await layer.receive(ch)).type).toBe("fine");
  expect(layer.droppedMessages).toBe(NO_MESSAGES.length + 1);

  await layer.groupAdd("room", ch);
  const waiting = expect(layer.receive(ch)).rejects.toBeInstanceOf(InvalidMessageError); // its handler attached before the body comes
  await raw.publish(`${prefix}__group__room`, Buffer.from([0xc1]));
  await waiting;
});
