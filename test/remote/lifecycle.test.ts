/** Clients coming and going: heartbeats, cleanup, limits, reconnects, and cancellation races. */
import { afterEach, describe, expect, it } from "vitest";
import { BrokerServer, ConnectionLostError, RemoteChannelLayer, type Message } from "../../src/index.js";
import { Op, Status, type HelloInfo } from "../../src/protocol/ops.js";
import { sleep, tryReceive } from "../conformance/helpers.js";
import { hello, helloClient, rawClient, startBroker } from "./helpers.js";
import { waitFor } from "../wait.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(options: ConstructorParameters<typeof BrokerServer>[0] = {}) {
  const b = await startBroker(options);
  cleanups.push(() => b.server.close());
  return b;
}

function layer(url: string, options: ConstructorParameters<typeof RemoteChannelLayer>[1] = {}): RemoteChannelLayer {
  const l = new RemoteChannelLayer(url, options);
  cleanups.push(() => l.close());
  return l;
}

describe("departed clients", () => {
  it("a client that misses its heartbeats is dropped and its waiting receives removed", async () => {
    const { server, url } = await broker({ heartbeatInterval: 30 });
    const raw = await helloClient(url);
    raw.send([Op.Receive, 2, "silent"]);
    await waitFor("the receive waits in the broker", () => server.stats().waitingReceivers === 1, { timeout: 3000 });
    await raw.closed; // it said nothing more: three beats later the broker hangs up
    expect(server.stats()).toMatchObject({ waitingReceivers: 0, clients: 0 });
  });

  it("a layer keeps its connection alive with heartbeats while idle", async () => {
    // The broker drops a client silent for 3 of its beats (300 ms); the layer pings every 30 ms while
    // idle, so only a stall of the whole process for 300 ms could drop it, not a loaded machine's lag.
    const { server, url } = await broker({ heartbeatInterval: 100 });
    const l = layer(url, { heartbeatInterval: 30 });
    const pending = l.receive("idle");
    await sleep(500);
    expect(server.stats().clients).toBe(1);
    expect(server.broker.connectionsOpened).toBe(1); // never dropped and reconnected
    await l.send("idle", { type: "still here" });
    expect((await pending).type).toBe("still here");
  });

  it("a departed client's process-local channels and memberships are cleaned up after the grace period", async () => {
    const { server, url } = await broker({ localGrace: 100 });
    const other = layer(url);
    const raw = await helloClient(url);
    raw.send([Op.GroupAdd, 2, "room", `specific.${raw.instanceId}!a`], [Op.GroupAdd, 3, "room", "normal"]);
    await raw.answer(3);
    await other.groupSend("room", { type: "for both" });
    expect(server.stats()).toMatchObject({ messages: 2, members: 2 });
    raw.socket.destroy();
    await waitFor("one message stored", () => server.stats().messages === 1, { timeout: 3000 });
    expect(server.stats()).toMatchObject({ messages: 1, members: 1 });
    expect((await other.receive("normal")).type).toBe("for both");
  });

  it("a client that reconnects within the grace period keeps its process-local channels", async () => {
    const { server, url } = await broker({ localGrace: 1000 });
    const first = await helloClient(url, "back1");
    const local = `specific.${first.instanceId}!a`;
    first.send([Op.GroupAdd, 2, "room", local], [Op.Send, 3, local, Buffer.from([0x80])]);
    await first.answer(3);
    first.socket.destroy();
    await first.closed;
    // Coming back as the same instance: the same secret, from which its id derives.
    const second = rawClient(url);
    second.send(hello("back1"));
    expect((await second.answer(1))[1]).toBe(Status.Ok);
    expect((second.frames[0]![2] as HelloInfo).resumed).toBe(true);
    await sleep(1200);
    expect(server.stats()).toMatchObject({ messages: 1, members: 1 });
    second.send([Op.Receive, 4, local]);
    expect((await second.answer(4)).slice(0, 2)).toEqual([4, Status.Ok]);
    second.socket.destroy();
  });
});

describe("limits", () => {
  it("a connection over maxConnections is refused, and the layer retries until there is room", async () => {
    const { url } = await broker({ maxConnections: 1 });
    const a = layer(url);
    await a.send("room", { type: "first" });
    const raw = rawClient(url);
    raw.send([Op.Hello, 1, 1, "late", null]); // refused for the connection limit before anything else
    const [, status, code, message] = await raw.answer(1);
    expect([status, code]).toEqual([Status.Error, "ERR_CONNECTION_LOST"]);
    expect(message).toMatch(/connection limit \(1\)/);
    await raw.closed;
    const b = layer(url, { connectTimeout: 5000 });
    const received = b.receive("room");
    await sleep(100);
    await a.close();
    expect((await received).type).toBe("first");
  });
});

describe("reconnecting", () => {
  it("calls reject with ConnectionLostError after connectTimeout while the broker is unreachable", async () => {
    const { server, url } = await broker();
    await server.close();
    const l = layer(url, { connectTimeout: 200 });
    const started = Date.now();
    await expect(l.send("x", { type: "t" })).rejects.toBeInstanceOf(ConnectionLostError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    // Fails fast from then on instead of hanging.
    await expect(l.receive("x")).rejects.toThrow(/unreachable for over 200 ms/);
  });

  it("a pending receive resumes on a restarted broker at the same address", async () => {
    const first = await startBroker();
    const port = new URL(first.url).port;
    const l = layer(first.url, { connectTimeout: 5000 });
    const pending = l.receive("resume");
    await sleep(50);
    await first.server.close();
    const second = await broker({ listen: `tcp://127.0.0.1:${port}` });
    const sender = layer(second.url);
    await waitFor("the receive waits in the new broker", () => second.server.stats().waitingReceivers === 1, { timeout: 3000 });
    await sender.send("resume", { type: "after restart" });
    expect((await pending).type).toBe("after restart");
  });
});

describe("cancellation races (SPEC §4.6)", () => {
  it("thousands of receives aborted at random moments lose and duplicate nothing", async () => {
    const { url } = await broker({ capacity: Infinity });
    const receiver = layer(url);
    const sender = layer(url);
    const total = 3000;
    const seen: number[] = [];
    let aborted = 0;
    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        await sender.send("race", { type: "n", i });
        if (i % 5 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    while (seen.length < total) {
      const controller = new AbortController();
      const pending = receiver.receive("race", { signal: controller.signal });
      const when = Math.floor(Math.random() * 4);
      if (when === 0) queueMicrotask(() => controller.abort());
      else if (when === 1) setImmediate(() => controller.abort());
      else if (when === 2) setTimeout(() => controller.abort(), 0);
      let m: Message | undefined;
      try {
        m = await pending;
      } catch {
        aborted++;
        m = await tryReceive(receiver, "race", 500);
      }
      if (m) seen.push(m.i as number);
    }
    await sending;
    expect(aborted).toBeGreaterThan(500);
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(await tryReceive(receiver, "race", 50)).toBeUndefined();
  });

  it("aborting a receive waiting in the broker removes its waiter there", async () => {
    const { server, url } = await broker();
    const l = layer(url);
    const controller = new AbortController();
    const pending = l.receive("cancel-me", { signal: controller.signal });
    await waitFor("the receive waits in the broker", () => server.stats().waitingReceivers === 1, { timeout: 3000 });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    await waitFor("no receive waits in the broker", () => server.stats().waitingReceivers === 0, { timeout: 3000 });
    await l.send("cancel-me", { type: "kept" });
    expect(server.stats().messages).toBe(1);
  });

  it("closing a layer hands back a message already on its way to a receive", async () => {
    const { url } = await broker();
    for (let round = 0; round < 200; round++) {
      const a = new RemoteChannelLayer(url);
      const b = layer(url);
      const ch = `handback.${round}`;
      const pending = a.receive(ch).catch(() => undefined);
      await sleep(1);
      await b.send(ch, { type: "keep", round });
      const closing = a.close();
      const got = await pending;
      await closing;
      if (got === undefined) expect((await b.receive(ch)).round).toBe(round);
    }
  });
});

describe("receiving in a loop fetches ahead, without keeping messages from others", () => {
  it("messages fetched ahead and not claimed within the tick go back to the head for other consumers", async () => {
    const { server, url } = await broker({ capacity: Infinity });
    const a = layer(url);
    const b = layer(url);
    for (let i = 0; i < 100; i++) await b.send("backlog", { type: "n", i });
    const got: number[] = [];
    for (let i = 0; i < 10; i++) got.push((await a.receive("backlog")).i as number); // a tight loop: the window opens
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => i));
    await sleep(20); // a's unclaimed messages went back
    expect(server.stats().messages).toBe(90);
    const rest: number[] = [];
    for (let i = 0; i < 90; i++) rest.push((await b.receive("backlog")).i as number);
    expect(rest).toEqual(Array.from({ length: 90 }, (_, i) => i + 10));
  });

  it("many receives at once on one channel are answered in one batch, in call order", async () => {
    const { url } = await broker({ capacity: Infinity });
    const a = layer(url);
    for (let i = 0; i < 300; i++) void a.send("many", { type: "n", i });
    const all = await Promise.all(Array.from({ length: 300 }, () => a.receive("many")));
    expect(all.map((m) => m.i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });
});
