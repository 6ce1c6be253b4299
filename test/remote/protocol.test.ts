/** The wire protocol: framing, error classes across the wire, and the broker's answers to bad requests. */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BrokerServer, ChannelFullError, MessageTooLargeError, ProtocolError, RemoteChannelLayer, type Message } from "../../src/index.js";
import { copyMessage } from "../../src/message.js";
import { decodeMessage, packr } from "../../src/dependencies/msgpack.js";
import { errorFromWire, errorToWire } from "../../src/protocol/errors.js";
import { encodeFrames, FrameDecoder } from "../../src/protocol/frames.js";
import { Op, PROTOCOL_VERSION, Status } from "../../src/protocol/ops.js";
import { writer } from "../../src/protocol/writer.js";
import { helloClient, rawClient, startBroker } from "./helpers.js";

describe("framing", () => {
  const frames = [[Op.Send, 1, "a", Buffer.from("body")], [Op.Ping, 2], [Op.Stats, 3]];

  it("decodes frames split at every byte and coalesced into one chunk", () => {
    const bytes = Buffer.concat([encodeFrames(frames), encodeFrames([[Op.Flush, 4]])]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const out: unknown[] = [];
      const decoder = new FrameDecoder(1024);
      decoder.push(bytes.subarray(0, cut), (f) => out.push(f));
      decoder.push(bytes.subarray(cut), (f) => out.push(f));
      expect(out).toEqual([...frames, [Op.Flush, 4]]);
      expect(decoder.buffered).toBe(0);
    }
  });

  it("any frame reads back as msgpackr itself would round-trip it", () => {
    const scalar = fc.oneof(
      fc.integer(),
      fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
      fc.double(),
      fc.constantFrom(0, -0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -32, -33, -(2 ** 31), -(2 ** 31) - 1),
      fc.string(),
      fc.string({ unit: "grapheme", maxLength: 300 }),
      fc.uint8Array({ maxLength: 70_000 }),
      fc.constantFrom(null, true, false, undefined),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())),
    );
    const frame = fc.array(fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })), { maxLength: 20 });
    // Every batch is read back only after all were written: a buffer handed out is never written again.
    const written: Array<[unknown[][], Buffer]> = [];
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 8 }), (frames) => void written.push([frames, encodeFrames(frames)])),
      { numRuns: 300 },
    );
    for (const [frames, bytes] of written) {
      const out: unknown[] = [];
      new FrameDecoder(1 << 24).push(bytes, (f) => out.push(f));
      expect(out).toEqual(frames.map((f) => packr.unpack(packr.pack(f))));
    }
  });

  it("a message body is written byte for byte as msgpackr writes it", () => {
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.constantFrom(null, true, false, 0, -0, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1),
        fc.integer(),
        fc.maxSafeInteger(),
        fc.double({ noNaN: true }), // NaN is refused at send (docs/semantics.md), so copyMessage never passes one on
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.string({ maxLength: 300 }),
        fc.string({ unit: "grapheme", maxLength: 40 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.array(tie("value"), { maxLength: 20 }),
        fc.dictionary(fc.string({ maxLength: 40 }), tie("value"), { maxKeys: 20 }),
      ),
    }));
    const copyOptions = { wideInts: true, maxBytes: Infinity, encode: (m: Message) => packr.pack(m) };
    fc.assert(
      fc.property(fc.string(), fc.dictionary(fc.string(), value, { maxKeys: 8 }), (type, rest) => {
        const message = copyMessage({ ...rest, type }, copyOptions);
        expect(writer.message(message).equals(packr.pack(message))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses a length prefix above the limit before reading the body", () => {
    const decoder = new FrameDecoder(1024);
    const huge = Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    expect(() => decoder.push(huge, () => {})).toThrow(ProtocolError);
    expect(() => new FrameDecoder(1024).push(huge, () => {})).toThrow(/over the limit of 1024 bytes/);
  });

  it("splits a batch that encodes too large into several stream frames", () => {
    const big = Array.from({ length: 8 }, (_, i) => [Op.Send, i + 1, "a", Buffer.alloc(100_000, i)]);
    const bytes = encodeFrames(big);
    expect(bytes.readUInt32BE(0)).toBeLessThan(300_000);
    const out: unknown[][] = [];
    new FrameDecoder(400_000).push(bytes, (f) => out.push(f as unknown[]));
    expect(out.map((f) => f[1])).toEqual(big.map((f) => f[1]));
    out.forEach((f, i) => expect(Buffer.compare(f[3] as Buffer, big[i]![3] as Buffer)).toBe(0));
  });
});

describe("errors on the wire", () => {
  it("come back as the same classes with their details", () => {
    const full = errorFromWire(...errorToWire(new ChannelFullError("ch", 3)));
    expect(full).toBeInstanceOf(ChannelFullError);
    expect(full).toMatchObject({ channel: "ch", capacity: 3, code: "ERR_CHANNEL_FULL" });
    const large = errorFromWire(...errorToWire(new MessageTooLargeError(20, 10)));
    expect(large).toMatchObject({ size: 20, limit: 10, code: "ERR_MESSAGE_TOO_LARGE" });
  });

  it("an unknown code becomes a ProtocolError naming it", () => {
    const err = errorFromWire("ERR_NEW_THING", "from the future", []);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toMatch(/ERR_NEW_THING.*from the future/);
  });
});

describe("the broker's answers", () => {
  let broker: { server: BrokerServer; url: string };
  beforeAll(async () => {
    broker = await startBroker({ capacity: 2, maxPendingReceives: 3, maxMessageBytes: 1000 });
  });
  afterAll(() => broker.server.close());

  it("refuses a client of another protocol version with a clear error and ends the connection", async () => {
    const raw = rawClient(broker.url);
    raw.send([Op.Hello, 1, PROTOCOL_VERSION + 1, "abc", null]);
    const [, status, code, message] = await raw.answer(1);
    expect([status, code]).toEqual([Status.Error, "ERR_PROTOCOL"]);
    expect(message).toMatch(new RegExp(`protocol version ${PROTOCOL_VERSION + 1} is not supported.*version ${PROTOCOL_VERSION}`));
    await raw.closed;
  });

  it("requires hello first", async () => {
    const raw = rawClient(broker.url);
    raw.send([Op.Ping, 5]);
    const [id, status, code] = await raw.answer(0);
    expect([id, status, code]).toEqual([0, Status.Error, "ERR_PROTOCOL"]);
    await raw.closed;
  });

  it("answers an unknown op or wrongly typed fields with an error and keeps the connection", async () => {
    const raw = await helloClient(broker.url);
    raw.send(
      [99, 2],
      [Op.Send, 3, 42, Buffer.from([0x80])],
      [Op.Send, 4, "ok", "not bytes"],
      [Op.GroupAdd, 5, "bad group!", "ch"],
      [Op.Ping, 6],
      [Op.Send, 7, "big", Buffer.alloc(2000)],
      [Op.Ping, 8],
    );
    expect((await raw.answer(2)).slice(1, 3)).toEqual([Status.Error, "ERR_PROTOCOL"]);
    expect((await raw.answer(3)).slice(1, 3)).toEqual([Status.Error, "ERR_INVALID_CHANNEL_NAME"]);
    expect((await raw.answer(4)).slice(1, 3)).toEqual([Status.Error, "ERR_PROTOCOL"]);
    expect((await raw.answer(5)).slice(1, 3)).toEqual([Status.Error, "ERR_INVALID_GROUP_NAME"]);
    expect(await raw.answer(6)).toEqual([6, Status.Ok]);
    expect((await raw.answer(7)).slice(1, 5)).toEqual([Status.Error, "ERR_MESSAGE_TOO_LARGE", expect.any(String), [2000, 1000]]);
    expect(await raw.answer(8)).toEqual([8, Status.Ok]);
    raw.socket.destroy();
  });

  it("a ChannelFullError raised in the broker rejects the client's send with a ChannelFullError", async () => {
    const layer = new RemoteChannelLayer(broker.url);
    await layer.send("fills", { type: "a" });
    await layer.send("fills", { type: "b" });
    const err = await layer.send("fills", { type: "c" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelFullError);
    expect(err).toMatchObject({ channel: "fills", capacity: 2 });
    await layer.close();
  });

  it("refuses a duplicate id for a waiting receive, and more waiting receives than the limit", async () => {
    const raw = await helloClient(broker.url);
    raw.send([Op.Receive, 2, "dup"], [Op.Receive, 2, "dup"]);
    expect((await raw.answer(2)).slice(1, 3)).toEqual([Status.Error, "ERR_PROTOCOL"]);
    raw.send([Op.Receive, 3, "dup"], [Op.Receive, 4, "dup"], [Op.Receive, 5, "dup"]);
    const [, status, , message] = await raw.answer(5);
    expect(status).toBe(Status.Error);
    expect(message).toMatch(/too many waiting receives.*limit 3/);
    raw.socket.destroy();
    await raw.closed;
  });

  it("refuses a receive on another instance's process-local channel", async () => {
    const raw = await helloClient(broker.url);
    raw.send([Op.Receive, 2, "specific.theirs!x1"], [Op.Receive, 3, `specific.${raw.instanceId}!x1`], [Op.Cancel, 3]);
    const [, status, code, message] = await raw.answer(2);
    expect([status, code]).toEqual([Status.Error, "ERR_INVALID_CHANNEL_NAME"]);
    expect(message).toMatch(/process-local to another layer instance/);
    expect(await raw.answer(3)).toEqual([3, Status.Cancelled]);
    raw.socket.destroy();
  });

  it("a standing receive hands over messages as they arrive, Partial until its credit is spent, then Ok", async () => {
    const raw = await helloClient(broker.url);
    const body = (n: number): Buffer => Buffer.from([0x81, 0xa1, 0x6e, n]); // {n}
    const answersTo = (id: number): unknown[][] => raw.frames.filter((f) => f[0] === id);
    raw.send([Op.Send, 2, "standing", body(1)], [Op.Receive, 3, "standing", 3, 1]);
    await raw.answer(3);
    expect(answersTo(3).map((f) => [f[1], f[2]])).toEqual([[Status.Partial, body(1)]]);
    raw.send([Op.Send, 4, "standing", body(2)]);
    await raw.answer(4);
    // What it was handed counts against the capacity (2) until it says it took it.
    raw.send([Op.Send, 8, "standing", body(3)]);
    expect((await raw.answer(8)).slice(1, 3)).toEqual([Status.Error, "ERR_CHANNEL_FULL"]);
    raw.send([Op.Requeue, 9, "standing", 2, 0], [Op.Send, 5, "standing", body(3)], [Op.Send, 6, "standing", body(4)]);
    await raw.answer(6);
    expect(answersTo(3).map((f) => [f[1], f[2]])).toEqual([[Status.Partial, body(1)], [Status.Partial, body(2)], [Status.Ok, body(3)]]);
    // The credit was spent: the fourth message stays queued.
    raw.send([Op.Receive, 7, "standing", 5, 1], [Op.Cancel, 7]);
    await vi.waitFor(() => expect(answersTo(7)).toHaveLength(2));
    expect(answersTo(7).map((f) => f[1])).toEqual([Status.Partial, Status.Cancelled]);
    expect(answersTo(7)[0]![2]).toEqual(body(4));
    raw.socket.destroy();
  });

  it("a standing receive waits behind the other receivers of its channel after each message it takes", async () => {
    const roomy = await startBroker({ capacity: 10 });
    const a = await helloClient(roomy.url);
    const b = await helloClient(roomy.url);
    a.send([Op.Receive, 2, "shared", 5, 1]);
    await new Promise((r) => setTimeout(r, 50));
    b.send([Op.Receive, 2, "shared", 5, 1]);
    await new Promise((r) => setTimeout(r, 50));
    const sender = await helloClient(roomy.url);
    sender.send(...[1, 2, 3, 4].map((n) => [Op.Send, 10 + n, "shared", Buffer.from([n])]));
    await sender.answer(14);
    await vi.waitFor(() => expect(a.frames.length + b.frames.length).toBe(2 + 4));
    const got = (raw: typeof a): unknown[] => raw.frames.filter((f) => f[0] === 2).map((f) => (f[2] as Buffer)[0]);
    expect([got(a), got(b)]).toEqual([[1, 3], [2, 4]]);
    for (const raw of [a, b, sender]) raw.socket.destroy();
    await roomy.server.close();
  });

  it("a frame over the size limit ends that connection only", async () => {
    const layer = new RemoteChannelLayer(broker.url);
    await layer.send("alive", { type: "before" });
    const raw = await helloClient(broker.url);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(50_000_000);
    raw.socket.write(header);
    const [id, status, code] = await raw.answer(0);
    expect([id, status, code]).toEqual([0, Status.Error, "ERR_PROTOCOL"]);
    await raw.closed;
    expect((await layer.receive("alive")).type).toBe("before");
    await layer.close();
  });
});

describe("a layer's standing receives", () => {
  it("a consumer that stops receiving keeps nothing: what follows goes to another consumer, none lost", async () => {
    const { server, url } = await startBroker({ capacity: 1000 });
    const [producer, first, second] = [new RemoteChannelLayer(url), new RemoteChannelLayer(url, { receiveLinger: 0 }), new RemoteChannelLayer(url)];
    // `first` receives in a tight loop while messages arrive one by one: its poll stands in the broker.
    const firstGot: number[] = [];
    const looping = (async () => {
      for (let i = 0; i < 50; i++) firstGot.push((await first.receive("handoff")).i as number);
    })();
    for (let i = 0; i < 50; i++) await producer.send("handoff", { type: "m", i });
    await looping;
    for (let i = 50; i < 100; i++) await producer.send("handoff", { type: "m", i });
    const secondGot: number[] = [];
    for (let i = 50; i < 100; i++) secondGot.push((await second.receive("handoff")).i as number);
    expect(firstGot).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(secondGot).toEqual(Array.from({ length: 50 }, (_, i) => 50 + i));
    await vi.waitFor(() => expect(server.stats().waitingReceivers).toBe(0));
    await Promise.all([producer.close(), first.close(), second.close()]);
    await server.close();
  });
});

describe("a receive loop's window (src/client/receive-buffer.ts)", () => {
  it("grows while a consumer drains a backlog in a loop: far fewer Receive requests than messages; prefetch 0 asks for each", async () => {
    const { server, url } = await startBroker({ capacity: 1000 });
    const producer = new RemoteChannelLayer(url);
    const drain = async (options: { prefetch?: number }, channel: string): Promise<number> => {
      for (let i = 0; i < 300; i++) await producer.send(channel, { type: "m", i });
      const consumer = new RemoteChannelLayer(url, options);
      const receives = countReceives(consumer);
      const got: number[] = [];
      for (let i = 0; i < 300; i++) got.push((await consumer.receive(channel)).i as number);
      expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i));
      await consumer.close();
      return receives.count;
    };
    const windowed = await drain({}, "window.on");
    const single = await drain({ prefetch: 0 }, "window.off");
    // 300 messages in windows of 4, 16, then 32 (the default prefetch): about a dozen polls, and a few watches.
    expect(windowed).toBeLessThan(40);
    expect(single).toBeGreaterThanOrEqual(150);
    expect(server.stats().messages).toBe(0);
    await producer.close();
    await server.close();
  });
});

/** Count the Receive requests `layer` writes from now on. */
function countReceives(layer: RemoteChannelLayer): { readonly count: number } {
  const link = (layer as unknown as { link: { send(frames: unknown[][]): void } }).link;
  const send = link.send.bind(link);
  const counter = { count: 0 };
  link.send = (frames) => {
    for (const frame of frames) if (frame[0] === Op.Receive) counter.count++;
    send(frames);
  };
  return counter;
}

/**
 * `lingering` receives message 0 on `channel`, then `producer` sends 1 to 3
 * during the linger: the lingering poll takes one (1), the broker keeps 2 and 3.
 */
/** `lingering` is served once on `channel`, so it lingers there; then `producer` sends 1, 2, 3, which all end up in the broker. */
async function sendDuringLinger(server: BrokerServer, lingering: RemoteChannelLayer, producer: RemoteChannelLayer, channel: string): Promise<void> {
  await producer.send(channel, { type: "m", i: 0 });
  expect((await lingering.receive(channel)).i).toBe(0);
  await vi.waitFor(() => expect(server.stats().waitingReceivers).toBe(1));
  for (let i = 1; i <= 3; i++) await producer.send(channel, { type: "m", i });
  // The linger's poll took 1 for nobody; at the end of that tick it went back to the head, and the linger ended.
  await vi.waitFor(() => expect([server.stats().waitingReceivers, server.stats().messages]).toEqual([0, 3]));
}

describe("a layer's receive linger", () => {
  it("a message sent during the linger goes to the next receive without a Receive request", async () => {
    const { server, url } = await startBroker();
    const layer = new RemoteChannelLayer(url, { receiveLinger: 5000 });
    const receives = countReceives(layer);
    await layer.send("linger", { type: "m", i: 0 });
    expect((await layer.receive("linger")).i).toBe(0);
    // Served, nobody waits: the channel stays watched by a poll for one message.
    await vi.waitFor(() => expect(server.stats().waitingReceivers).toBe(1));
    const before = receives.count;
    await layer.send("linger", { type: "m", i: 1 });
    await vi.waitFor(() => expect(server.stats().waitingReceivers).toBe(0));
    expect(server.stats().messages).toBe(0); // the message is in the client already
    expect(receives.count).toBe(before);
    expect((await layer.receive("linger")).i).toBe(1);
    // In a ping-pong loop each round trip is then one exchange: the next poll leaves with the send.
    for (let i = 2; i < 20; i++) {
      await layer.send("linger", { type: "m", i });
      expect((await layer.receive("linger")).i).toBe(i);
    }
    await layer.close();
    await server.close();
  });

  it("keeps a message brought for nobody no longer than its tick: it goes back to the head, in order, and the linger ends", async () => {
    const { server, url } = await startBroker();
    const [lingering, producer, other] = [new RemoteChannelLayer(url, { receiveLinger: 60_000 }), new RemoteChannelLayer(url), new RemoteChannelLayer(url)];
    await sendDuringLinger(server, lingering, producer, "held");
    const got: unknown[] = [];
    for (let i = 1; i <= 3; i++) got.push((await other.receive("held")).i);
    expect(got).toEqual([1, 2, 3]);
    await Promise.all([lingering.close(), producer.close(), other.close()]);
    await server.close();
  });

  it("a consumer that stops receiving loses nothing to its linger: every message reaches another consumer once", async () => {
    const { server, url } = await startBroker({ capacity: 1000 });
    const [producer, first, second] = [new RemoteChannelLayer(url), new RemoteChannelLayer(url, { receiveLinger: 20 }), new RemoteChannelLayer(url)];
    const looping = (async () => {
      for (let i = 0; i < 50; i++) expect((await first.receive("handoff")).i).toBe(i);
    })();
    for (let i = 0; i < 50; i++) await producer.send("handoff", { type: "m", i });
    await looping;
    for (let i = 50; i < 100; i++) await producer.send("handoff", { type: "m", i });
    const secondGot: number[] = [];
    for (let i = 50; i < 100; i++) secondGot.push((await second.receive("handoff")).i as number);
    // At most the one message `first` held comes later than its turn.
    expect([...secondGot].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => 50 + i));
    expect(secondGot.filter((i, at) => at > 0 && i < secondGot[at - 1]!).length).toBeLessThanOrEqual(1);
    await vi.waitFor(() => expect(server.stats().waitingReceivers).toBe(0));
    await Promise.all([producer.close(), first.close(), second.close()]);
    await server.close();
  });

  it("close() during a linger withdraws its poll and frees the timer; nothing is lost", async () => {
    const { server, url } = await startBroker();
    const [lingering, producer, other] = [new RemoteChannelLayer(url, { receiveLinger: 60_000 }), new RemoteChannelLayer(url), new RemoteChannelLayer(url)];
    await producer.send("closing", { type: "m", i: 0 });
    expect((await lingering.receive("closing")).i).toBe(0);
    await vi.waitFor(() => expect(server.stats().waitingReceivers).toBe(1));
    const buffer = (lingering as unknown as { pipeline: { receives: { buffer: { lingerTimer: unknown } } } }).pipeline.receives.buffer;
    expect(buffer.lingerTimer).toBeDefined();
    const started = performance.now();
    await lingering.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(buffer.lingerTimer).toBeUndefined();
    await vi.waitFor(() => expect(server.stats().waitingReceivers).toBe(0));
    for (let i = 1; i <= 3; i++) await producer.send("closing", { type: "m", i });
    const got: unknown[] = [];
    for (let i = 1; i <= 3; i++) got.push((await other.receive("closing")).i);
    expect(got).toEqual([1, 2, 3]);
    await Promise.all([producer.close(), other.close()]);
    await server.close();
  });

  it("a receive that was aborted, not served, starts no linger: a later message stays in the broker", async () => {
    const { server, url } = await startBroker();
    const [layer, producer] = [new RemoteChannelLayer(url, { receiveLinger: 60_000 }), new RemoteChannelLayer(url)];
    const controller = new AbortController();
    const aborted = layer.receive("gave-up", { signal: controller.signal });
    await vi.waitFor(() => expect(server.stats().waitingReceivers).toBe(1));
    controller.abort(new Error("no longer"));
    await expect(aborted).rejects.toThrow("no longer");
    await vi.waitFor(() => expect(server.stats().waitingReceivers).toBe(0));
    await producer.send("gave-up", { type: "m", i: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.stats().messages).toBe(1);
    await Promise.all([layer.close(), producer.close()]);
    await server.close();
  });

  it("receiveLinger 0 keeps nothing past the tick: the poll is withdrawn and a later message stays in the broker", async () => {
    const { server, url } = await startBroker();
    const [layer, producer, other] = [new RemoteChannelLayer(url, { receiveLinger: 0 }), new RemoteChannelLayer(url), new RemoteChannelLayer(url)];
    const receives = countReceives(layer);
    await producer.send("nolinger", { type: "m", i: 0 });
    expect((await layer.receive("nolinger")).i).toBe(0);
    await vi.waitFor(() => expect(server.stats().waitingReceivers).toBe(0));
    await producer.send("nolinger", { type: "m", i: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.stats().messages).toBe(1);
    expect((await other.receive("nolinger")).i).toBe(1);
    expect(receives.count).toBe(1);
    await Promise.all([layer.close(), producer.close(), other.close()]);
    await server.close();
  });

  it("receiveLinger must be 0 or a positive number", () => {
    expect(() => new RemoteChannelLayer("tcp://127.0.0.1:1", { receiveLinger: -1 })).toThrow(/receiveLinger/);
    expect(() => new RemoteChannelLayer("tcp://127.0.0.1:1", { receiveLinger: Number.NaN })).toThrow(/receiveLinger/);
  });
});

describe("settings that are the broker's", () => {
  it("a layer given another capacity or expiry than its broker's is warned once that they do not apply", async () => {
    const { server, url } = await startBroker({ capacity: 7 });
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on("warning", onWarning);
    try {
      const same = new RemoteChannelLayer(url, { capacity: 7 });
      const other = new RemoteChannelLayer(url, { capacity: 50, expiry: 60 });
      await same.send("s", { type: "t" });
      await other.send("s", { type: "t" });
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => w.message)).toEqual([expect.stringMatching(/sets capacity=7; this layer's capacity=50 has no effect/)]);
      expect(warnings[0]).toMatchObject({ code: "CHANNEL_LAYERS_BROKER_SETTINGS" });
      await Promise.all([same.close(), other.close()]);
    } finally {
      process.off("warning", onWarning);
      await server.close();
    }
  });
});

describe("options", () => {
  it("bad broker and client options are refused when made, with a RangeError or TypeError naming them", () => {
    expect(() => new BrokerServer({ maxConnections: 0 })).toThrow(/maxConnections must be a positive integer/);
    expect(() => new BrokerServer({ heartbeatInterval: -1 })).toThrow(RangeError);
    expect(() => new BrokerServer({ maxFrameBytes: 1.5 })).toThrow(/maxFrameBytes/);
    expect(() => new BrokerServer({ token: "" })).toThrow(TypeError);
    expect(() => new BrokerServer({ listen: "http://x" })).toThrow(/unknown scheme/);
    expect(() => new RemoteChannelLayer("tcp://127.0.0.1:1", { prefetch: -1 })).toThrow(/prefetch/);
    expect(() => new RemoteChannelLayer("tcp://127.0.0.1:1", { connectTimeout: Number.NaN })).toThrow(/connectTimeout/);
    expect(() => new RemoteChannelLayer("ftp://x")).toThrow(/unknown scheme/);
  });
});

describe("bodies stay opaque in the broker", () => {
  it("a groupSend to 1,000 members stores the one buffer the client encoded, 1,000 times", async () => {
    const { server, url } = await startBroker();
    const layer = new RemoteChannelLayer(url);
    const members = Array.from({ length: 1000 }, (_, i) => `member.${i}`);
    await Promise.all(members.map((m) => layer.groupAdd("thousand", m)));
    await layer.groupSend("thousand", { type: "news", text: "once" });
    const engine = server.broker.engine;
    const bodies = members.map((m) => engine.take(m));
    expect(bodies[0]).toBeInstanceOf(Buffer);
    expect(bodies.every((b) => b === bodies[0])).toBe(true);
    expect(decodeMessage(bodies[0]!)).toEqual({ type: "news", text: "once" });
    await layer.close();
    await server.close();
  });
});
