import { connect as tcpConnect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  CloseCode,
  InvalidMessageTypeError,
  JsonWebSocketConsumer,
  WebSocketConsumer,
  type Message,
  type MessageValue,
} from "../../src/index.js";
import { packr } from "../../src/dependencies/msgpack.js";
import { Client, cleanup, open, startServer } from "./helpers.js";
import { waitFor } from "../wait.js";

afterEach(cleanup);

class Echo extends WebSocketConsumer {
  override receive(data: string | Buffer): void {
    if (data === "fail") throw new Error("handler failed");
    this.send(typeof data === "string" ? `echo:${data}` : Buffer.concat([Buffer.from("echo:"), data]));
  }
}

const disconnects: number[] = [];

/** Joins the room named by the path; what a client says goes to the whole room. */
class Room extends JsonWebSocketConsumer {
  get group(): string {
    return `room.${this.scope.params.room}`;
  }
  override async connect(): Promise<void> {
    this.accept();
    await this.groupAdd(this.group);
    this.sendJson({ type: "joined", room: this.scope.params.room!, user: this.scope.query.get("user") });
  }
  override async receiveJson(content: MessageValue): Promise<void> {
    await this.layer.groupSend(this.group, { type: "room.say", content });
  }
  room_say(m: Message): void {
    this.sendJson(m.content!);
  }
  override disconnect(code: number): void {
    disconnects.push(code);
  }
}

describe("WebSocketConsumer", () => {
  it("accepts by default and receives text and binary frames", async () => {
    const { base } = await startServer({ routes: [{ path: "/ws/echo", consumer: Echo }] });
    const c = await open(`${base}/ws/echo`);
    c.send("hi");
    expect(await c.next()).toBe("echo:hi");
    c.send(Buffer.from([1, 2, 3]));
    expect(await c.next()).toEqual(Buffer.from([...Buffer.from("echo:"), 1, 2, 3]));
  });

  it("routes by path and gives the parameters and query to the consumer", async () => {
    const { base } = await startServer({ routes: [{ path: "/ws/echo", consumer: Echo }, { path: "/ws/room/:room", consumer: Room }] });
    const c = await open(`${base}/ws/room/r%2D1?user=ann`);
    expect(await c.json()).toEqual({ type: "joined", room: "r-1", user: "ann" });
  });

  it("answers 404 to a path no route matches, or one with bad percent-encoding", async () => {
    const { base } = await startServer({ routes: [{ path: "/ws/room/:room", consumer: Room }] });
    expect(await new Client(`${base}/ws/nothing`).refused).toBe(404);
    expect(await new Client(`${base}/ws/room/%E0%A4%A`).refused).toBe(404);
    expect(await new Client(`${base}/ws/room/a/b`).refused).toBe(404);
  });

  it("refuses the handshake with 403 when connect() closes, or neither accepts nor closes", async () => {
    class Refuse extends WebSocketConsumer {
      override connect(): void {
        if (this.scope.query.has("close")) this.close();
      }
    }
    const { base, layer, service } = await startServer({ routes: [{ path: "/", consumer: Refuse }] });
    expect(await new Client(`${base}/?close`).refused).toBe(403);
    expect(await new Client(`${base}/`).refused).toBe(403);
    await waitFor("the refused consumers stopped", () => service.connections === 0);
    expect((await layer.stats()).members).toBe(0);
  });

  it("refuses with 403 and reports the error when connect() throws", async () => {
    class Broken extends WebSocketConsumer {
      override connect(): void {
        throw new Error("connect failed");
      }
    }
    const { base, errors } = await startServer({ routes: [{ path: "/", consumer: Broken }] });
    expect(await new Client(`${base}/`).refused).toBe(403);
    expect((errors[0]!.error as Error).message).toBe("connect failed");
  });

  it("accepts a subprotocol the client offered", async () => {
    class Proto extends WebSocketConsumer {
      override connect(): void {
        this.accept("chat.v2");
      }
    }
    const { base } = await startServer({ routes: [{ path: "/", consumer: Proto }] });
    const c = await open(`${base}/`, ["chat.v1", "chat.v2"]);
    expect(c.ws.protocol).toBe("chat.v2");
  });

  it("fans a room message out to every member through the layer", async () => {
    const { base } = await startServer({ routes: [{ path: "/ws/room/:room", consumer: Room }] });
    const a = await open(`${base}/ws/room/r1`);
    const b = await open(`${base}/ws/room/r1`);
    const other = await open(`${base}/ws/room/r2`);
    await Promise.all([a.json(), b.json(), other.json()]);
    a.send(JSON.stringify({ text: "hello" }));
    expect(await a.json()).toEqual({ text: "hello" });
    expect(await b.json()).toEqual({ text: "hello" });
    other.send(JSON.stringify({ text: "only r2" }));
    expect(await other.json()).toEqual({ text: "only r2" });
  });

  it("leaves its groups when the client closes cleanly", async () => {
    const { base, layer, service } = await startServer({ routes: [{ path: "/ws/room/:room", consumer: Room }] });
    disconnects.length = 0;
    const a = await open(`${base}/ws/room/r1`);
    await a.json();
    expect((await layer.stats()).members).toBe(1);
    a.ws.close(4321);
    await waitFor("the consumer stopped", () => service.connections === 0);
    expect(disconnects).toEqual([4321]);
    expect((await layer.stats()).members).toBe(0);
  });

  it("leaves its groups when the client drops abruptly, and a group send then reaches nobody", async () => {
    const { base, layer, service } = await startServer({ routes: [{ path: "/ws/room/:room", consumer: Room }] });
    disconnects.length = 0;
    const clients = await Promise.all([1, 2, 3].map(() => open(`${base}/ws/room/r1`)));
    await Promise.all(clients.map((c) => c.json()));
    expect((await layer.stats()).members).toBe(3);
    for (const c of clients) c.ws.terminate();
    await waitFor("every consumer stopped", () => service.connections === 0);
    expect(disconnects).toEqual([1006, 1006, 1006]);
    expect((await layer.stats()).members).toBe(0);
    const before = (await layer.stats()).counters.groupDelivered;
    await layer.groupSend("room.r1", { type: "room.say", content: "anyone?" });
    expect((await layer.stats()).counters.groupDelivered).toBe(before);
  });

  it("stops a consumer whose client drops before the handshake completes", async () => {
    class Slow extends WebSocketConsumer {
      override async connect(): Promise<void> {
        await this.groupAdd("waiting");
        await new Promise((r) => setTimeout(r, 50));
        this.accept(); // the client is gone by now: nothing to accept, and no error
      }
    }
    const { base, layer, service, errors } = await startServer({ routes: [{ path: "/", consumer: Slow }] });
    const c = new Client(`${base}/`);
    await waitFor("connect() joined its group", async () => (await layer.stats()).members === 1);
    c.ws.terminate();
    await waitFor("the consumer stopped", () => service.connections === 0);
    expect((await layer.stats()).members).toBe(0);
    expect(errors).toEqual([]);
  });

  it('refuses a layer message posing as a socket event ("websocket.*")', async () => {
    const { base, layer, errors } = await startServer({ routes: [{ path: "/ws/room/:room", consumer: Room }] });
    const a = await open(`${base}/ws/room/r1`);
    await a.json();
    await layer.groupSend("room.r1", { type: "websocket.disconnect", code: 1000 });
    await waitFor("the forged event was reported", () => errors.length === 1);
    expect(errors[0]!.error).toBeInstanceOf(InvalidMessageTypeError);
    a.send(JSON.stringify("still here"));
    expect(await a.json()).toBe("still here");
  });

  it("refuses a layer message naming a WebSocketConsumer method, such as close", async () => {
    const { base, layer, errors } = await startServer({ routes: [{ path: "/ws/room/:room", consumer: Room }] });
    const a = await open(`${base}/ws/room/r1`);
    await a.json();
    await layer.groupSend("room.r1", { type: "close", code: 1000 });
    await waitFor("the message was refused", () => errors.length === 1);
    expect((errors[0]!.error as Error).message).toMatch(/names "close", a method of Room itself/);
    a.send(JSON.stringify("still here"));
    expect(await a.json()).toBe("still here");
  });

  it("never lets a layer message call the framework's own callbacks (fields, not methods)", async () => {
    const { base, layer, errors, service } = await startServer({ routes: [{ path: "/ws/room/:room", consumer: Room }] });
    const a = await open(`${base}/ws/room/r1`);
    await a.json();
    // Each names a callback a WebSocket consumer keeps: the close of a dropped handshake, the error
    // hook, the log, the throttle, the gap listener, the end of stop().
    const types = ["onRawClose", "onError", "log", "admit", "onGap", "markDone", "stopWatchingDrop"];
    for (const type of types) await layer.groupSend("room.r1", { type });
    await waitFor("every message was reported", () => errors.length === types.length);
    expect(errors.map((e) => (e.error as Error).name)).toEqual(Array(types.length).fill("NoHandlerError"));
    a.send(JSON.stringify("still here"));
    expect(await a.json()).toBe("still here");
    expect(service.connections).toBe(1);
  });

  it("reports a throwing handler and keeps the connection by default", async () => {
    const { base, errors } = await startServer({ routes: [{ path: "/", consumer: Echo }] });
    const c = await open(`${base}/`);
    c.send("fail");
    c.send("after");
    expect(await c.next()).toBe("echo:after");
    expect((errors[0]!.error as Error).message).toBe("handler failed");
    expect(errors[0]!.context.message).toMatchObject({ type: "websocket.receive", text: "fail" });
  });

  it('closes with 1011 after a throwing handler under handlerErrors: "close"', async () => {
    const { base, errors } = await startServer({ routes: [{ path: "/", consumer: Echo, handlerErrors: "close" }] });
    const c = await open(`${base}/`);
    c.send("fail");
    expect((await c.closed).code).toBe(CloseCode.internalError);
    expect(errors).toHaveLength(1);
  });

  it("closes a client that sends a frame over maxPayload with 1009, and keeps serving others", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Echo }], maxPayload: 1024 });
    const big = await open(`${base}/`);
    big.send("x".repeat(2000));
    expect((await big.closed).code).toBe(1009);
    const c = await open(`${base}/`);
    c.send("ok");
    expect(await c.next()).toBe("echo:ok");
  });

  it("answers a malformed handshake with 400 and keeps serving", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Echo }] });
    const port = Number(new URL(base).port);
    const reply = await new Promise<string>((resolve) => {
      const s = tcpConnect(port, "127.0.0.1", () => s.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
      let data = "";
      s.on("data", (d) => (data += d.toString()));
      s.on("close", () => resolve(data));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    const c = await open(`${base}/`);
    c.send("ok");
    expect(await c.next()).toBe("echo:ok");
  });
});

describe("JSON and msgpack frames", () => {
  class Json extends JsonWebSocketConsumer {
    override receiveJson(content: MessageValue): void {
      this.sendJson({ got: content });
    }
  }

  it("maps JSON text frames to content and back", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Json }] });
    const c = await open(`${base}/`);
    c.send(JSON.stringify({ type: "hello", n: [1, 2] }));
    expect(await c.json()).toEqual({ got: { type: "hello", n: [1, 2] } });
  });

  it("answers a frame that is not JSON with an error frame and keeps the connection", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Json }] });
    const c = await open(`${base}/`);
    c.send("{not json");
    expect(await c.json()).toMatchObject({ type: "error", code: "ERR_BAD_FRAME", message: expect.stringMatching(/not valid JSON/) });
    c.send(Buffer.from([1]));
    expect(await c.json()).toMatchObject({ type: "error", code: "ERR_BAD_FRAME", message: expect.stringMatching(/binary frame/) });
    c.send("1");
    expect(await c.json()).toEqual({ got: 1 });
  });

  it("maps msgpack binary frames to content and back on a msgpack route", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Json, frames: "msgpack" }] });
    const c = await open(`${base}/`);
    c.send(packr.pack({ type: "hello", data: Buffer.from([9, 8]), big: 2n ** 60n }));
    const reply = await c.next();
    expect(Buffer.isBuffer(reply)).toBe(true);
    expect(packr.unpack(reply as Buffer)).toEqual({ got: { type: "hello", data: Buffer.from([9, 8]), big: 2n ** 60n } });
  });

  it("answers a text frame on a msgpack route with a msgpack error frame", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Json, frames: "msgpack" }] });
    const c = await open(`${base}/`);
    c.send("{}");
    expect(packr.unpack((await c.next()) as Buffer)).toMatchObject({ type: "error", code: "ERR_BAD_FRAME" });
    c.send(Buffer.from([0xc1])); // never used in msgpack
    expect(packr.unpack((await c.next()) as Buffer)).toMatchObject({ type: "error", code: "ERR_BAD_FRAME" });
    c.send(Buffer.from([0x92, 0x01])); // an array of two with one item
    expect(packr.unpack((await c.next()) as Buffer)).toMatchObject({ type: "error", code: "ERR_BAD_FRAME" });
    c.send(packr.pack({ when: new Date(0) }));
    expect(packr.unpack((await c.next()) as Buffer)).toMatchObject({ type: "error", message: expect.stringMatching(/Date/) });
    c.send(packr.pack(Array(100).fill(0).reduce((inner: unknown) => [inner], 1)));
    expect(packr.unpack((await c.next()) as Buffer)).toMatchObject({ type: "error", message: expect.stringMatching(/deeper/) });
  });

  it("refuses an unknown frame format when serving starts", async () => {
    await expect(startServer({ routes: [{ path: "/", consumer: Json, frames: "xml" as "json" }] })).rejects.toThrow(/unknown frame format/);
  });
});
