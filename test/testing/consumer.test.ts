import { afterEach, describe, expect, it } from "vitest";
import { Consumer, InMemoryChannelLayer, NoHandlerError, type ConsumerInit, type Message } from "../../src/index.js";
import { ConsumerCommunicator, TestClock } from "../../src/testing/index.js";

const layers: InMemoryChannelLayer[] = [];
afterEach(async () => {
  for (const layer of layers.splice(0)) await layer.close();
});
function memory(options: ConstructorParameters<typeof InMemoryChannelLayer>[0] = {}): InMemoryChannelLayer {
  const layer = new InMemoryChannelLayer(options);
  layers.push(layer);
  return layer;
}

/** Answers pings on the channel the ping names, and joins the group its init names. */
class Ponger extends Consumer {
  constructor(init: ConsumerInit & { group: string }) {
    super(init);
    this.groups = [init.group];
  }
  async ping(message: Message): Promise<void> {
    await this.layer.send(message.replyTo as string, { type: "pong", n: message.n as number });
  }
}

describe("ConsumerCommunicator", () => {
  it("delivers to the consumer's own channel through the layer, with the consumer's own init", async () => {
    const layer = memory();
    const c = new ConsumerCommunicator(Ponger, { layer, init: { group: "pingers" } });
    expect(c.channelName).toBe("");
    await c.start();
    expect(c.channelName).toMatch(/^specific\./);
    await c.send({ type: "ping", n: 1, replyTo: "replies" });
    expect(await layer.receive("replies")).toEqual({ type: "pong", n: 1 });
    await layer.groupSend("pingers", { type: "ping", n: 2, replyTo: "replies" });
    expect(await layer.receive("replies")).toEqual({ type: "pong", n: 2 });
    await c.stop();
    expect((await layer.stats()).groups).toBe(0);
  });

  it("collects what the consumer's error hook saw, and still calls the caller's hook", async () => {
    const layer = memory();
    const mine: unknown[] = [];
    const c = new ConsumerCommunicator(Ponger, { layer, init: { group: "g", onError: (e) => mine.push(e) } });
    await c.start();
    await c.send({ type: "no.such.handler" });
    await expect.poll(() => c.errors.length).toBe(1);
    expect(c.errors[0]!.error).toBeInstanceOf(NoHandlerError);
    expect(c.errors[0]!.context.message).toEqual({ type: "no.such.handler" });
    expect(mine).toHaveLength(1);
    await expect(c.stop()).rejects.toBeInstanceOf(NoHandlerError); // raised, as Channels' communicators do
  });

  it("with consumerErrors: \"report\" a consumer error is only collected, and stop() resolves", async () => {
    const c = new ConsumerCommunicator(Ponger, { layer: memory(), init: { group: "g" }, consumerErrors: "report" });
    await c.start();
    await c.send({ type: "no.such.handler" });
    await expect.poll(() => c.errors.length).toBe(1);
    await c.send({ type: "no.such.handler" });
    await c.stop();
    expect(c.errors).toHaveLength(2);
  });

  it("refuses send() before start() with a clear error", async () => {
    const c = new ConsumerCommunicator(Ponger, { layer: memory(), init: { group: "g" } });
    await expect(c.send({ type: "ping" })).rejects.toThrow('send("ping") before start(): the consumer has no channel yet');
  });
});

describe("TestClock", () => {
  it("drives message expiry with no sleeping", async () => {
    const clock = new TestClock();
    const layer = memory({ clock, expiry: 60 });
    await layer.send("c", { type: "old" });
    clock.advance(59_999);
    await layer.send("c", { type: "new" });
    clock.advance(1);
    expect((await layer.receive("c")).type).toBe("new"); // "old" reached its 60 s
  });

  it("drives group expiry", async () => {
    const clock = new TestClock(1_000_000);
    const layer = memory({ clock, groupExpiry: 10 });
    await layer.groupAdd("g", "member");
    clock.advance(9_000);
    await layer.groupSend("g", { type: "still.in" });
    expect((await layer.receive("member")).type).toBe("still.in");
    clock.advance(1_000);
    await layer.groupSend("g", { type: "gone" });
    expect((await layer.stats()).groups).toBe(0);
  });

  it("refuses to go backwards or to a non-number", () => {
    const clock = new TestClock();
    expect(() => clock.advance(-1)).toThrow(/>= 0, got -1/);
    expect(() => clock.advance(Number.NaN)).toThrow(RangeError);
    expect(() => new TestClock(Infinity)).toThrow(RangeError);
    const { now } = clock;
    clock.advance(5);
    expect(now()).toBe(5);
  });
});
