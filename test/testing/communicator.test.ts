/** What the communicator adds over a bare client: deadlines that say what was awaited, clear errors, and the rules of a real socket. */
import { afterEach, describe, expect, it } from "vitest";
import { CloseCode, InMemoryChannelLayer, JsonWebSocketConsumer, WebSocketConsumer, type MessageValue, type WebSocketApp } from "../../src/index.js";
import { WebSocketCommunicator } from "../../src/testing/index.js";

const layers: InMemoryChannelLayer[] = [];
afterEach(async () => {
  for (const layer of layers.splice(0)) await layer.close();
});

function app(routes: WebSocketApp["routes"], rest: Partial<WebSocketApp> = {}): WebSocketApp & { errors: unknown[] } {
  const layer = new InMemoryChannelLayer();
  layers.push(layer);
  const errors: unknown[] = [];
  return { routes, layer, onError: (e) => errors.push(e), errors, ...rest };
}

class Echo extends JsonWebSocketConsumer {
  override receiveJson(content: MessageValue): void {
    this.sendJson(content);
  }
}

class Bytes extends WebSocketConsumer {
  override receive(data: string | Buffer): void {
    this.send(Buffer.from(String(data)));
  }
}

describe("WebSocketCommunicator", () => {
  it("rejects a receive that times out, saying what it awaited and for how long", async () => {
    const c = new WebSocketCommunicator(app([{ path: "/", consumer: Echo }]), "/");
    expect(await c.connect()).toEqual({ accepted: true });
    await expect(c.receiveJson({ timeout: 30 })).rejects.toThrow("receiveJson() on /: no frame from the server within 30 ms");
    await expect(c.receiveText({ timeout: 20 })).rejects.toThrow(/receiveText\(\) on \/: no frame from the server within 20 ms/);
    await c.disconnect();
  });

  it("gives the consumer a request with a socket, made when first read", async () => {
    class Peek extends JsonWebSocketConsumer {
      override connect(): void {
        const { request } = this.scope;
        this.accept();
        this.sendJson({ socket: request.socket.constructor.name, same: request.socket === request.socket && request.connection === request.socket });
      }
    }
    const c = new WebSocketCommunicator(app([{ path: "/", consumer: Peek }]), "/");
    await c.connect();
    expect(await c.receiveJson()).toEqual({ socket: "Socket", same: true });
    await c.disconnect();
  });

  it("refuses to read a binary frame as JSON or text, and a text frame as bytes", async () => {
    const c = new WebSocketCommunicator(app([{ path: "/b", consumer: Bytes }, { path: "/j", consumer: Echo }]), "/b");
    await c.connect();
    c.sendText("x");
    await expect(c.receiveJson()).rejects.toThrow(/the next frame is binary \(1 bytes\); JSON comes in text frames/);
    c.sendText("y");
    await expect(c.receiveText()).rejects.toThrow(/binary \(1 bytes\), not text/);
    const j = new WebSocketCommunicator(app([{ path: "/j", consumer: Echo }]), "/j");
    await j.connect();
    j.sendJson("hello");
    await expect(j.receiveBytes()).rejects.toThrow(/the next frame is text \("\\"hello\\""\), not binary/);
    await Promise.all([c.disconnect(), j.disconnect()]);
  });

  it("receiveNothing: true when nothing comes; false when a frame does, which stays to be received", async () => {
    const c = new WebSocketCommunicator(app([{ path: "/", consumer: Echo }]), "/");
    await c.connect();
    expect(await c.receiveNothing(20)).toBe(true);
    c.sendJson(1);
    expect(await c.receiveNothing()).toBe(false);
    expect(await c.receiveJson()).toBe(1);
    await c.disconnect();
  });

  it("says so when a receive waits on a connection the server closed", async () => {
    class Closer extends WebSocketConsumer {
      override receive(): void {
        this.close(4000, "done");
      }
    }
    const c = new WebSocketCommunicator(app([{ path: "/", consumer: Closer }]), "/");
    await c.connect();
    const waiting = c.receiveText();
    c.sendText("x");
    await expect(waiting).rejects.toThrow('receiveText() on /: the connection closed (code 4000, "done") before a frame arrived');
    expect(await c.closed).toEqual({ code: 4000, reason: "done" });
    expect(() => c.sendText("late")).toThrow("sendText() on /: the connection is closed");
  });

  it("clear errors for calls out of order", async () => {
    const c = new WebSocketCommunicator(app([{ path: "/", consumer: Echo }]), "/");
    expect(() => c.sendText("x")).toThrow("sendText() on / before connect()");
    await expect(c.receiveJson()).rejects.toThrow("receiveJson() on / before connect()");
    await c.connect();
    await expect(c.connect()).rejects.toThrow("connect() was already called on this communicator for /");
    await expect(c.disconnect(1005)).rejects.toThrow(/close code 1005 is not one a close frame may carry/);
    await c.disconnect();
    expect(() => new WebSocketCommunicator(app([]), "ws/x")).toThrow(/must start with "\/"/);
  });

  it("connect() gives up after its timeout when the consumer neither accepts nor refuses, and the consumer ends", async () => {
    let release!: () => void;
    let disconnected = false;
    class Slow extends WebSocketConsumer {
      override async connect(): Promise<void> {
        await new Promise<void>((r) => (release = r));
      }
      override disconnect(): void {
        disconnected = true;
      }
    }
    const a = app([{ path: "/", consumer: Slow }]);
    const c = new WebSocketCommunicator(a, "/");
    await expect(c.connect({ timeout: 30 })).rejects.toThrow("connect() to /: the consumer neither accepted nor refused within 30 ms");
    release();
    await expect.poll(() => disconnected).toBe(true);
  });

  it("disconnect() resolves once the consumer has run disconnect() and left its groups", async () => {
    class Member extends WebSocketConsumer {
      override groups = ["members"];
      override async disconnect(): Promise<void> {
        await new Promise((r) => setTimeout(r, 20));
        await this.layer.send("log", { type: "left" });
      }
    }
    const a = app([{ path: "/", consumer: Member }]);
    const c = new WebSocketCommunicator(a, "/");
    await c.connect();
    const layer = a.layer as InMemoryChannelLayer;
    expect((await layer.stats()).groups).toBe(1);
    await c.disconnect();
    expect((await layer.stats()).groups).toBe(0);
    expect((await layer.receive("log")).type).toBe("left");
    expect(await c.closed).toEqual({ code: 1000, reason: "" });
  });

  it(`closes a client that does not receive with ${CloseCode.slowClient}: unreceived frames are unsent bytes`, async () => {
    class Flood extends WebSocketConsumer {
      override receive(): void {
        for (let i = 0; i < 20; i++) this.send("x".repeat(100));
      }
    }
    const c = new WebSocketCommunicator(app([{ path: "/", consumer: Flood, maxBufferedBytes: 1000 }]), "/");
    await c.connect();
    c.sendText("go");
    expect(await c.closed).toEqual({ code: CloseCode.slowClient, reason: "slow client: too much unsent data" });
    // What was sent before the close can still be received, as from a real socket's buffer.
    expect(await c.receiveText()).toHaveLength(100);
  });

  it("holds a flood of frames back while the consumer's handlers catch up, and loses none", async () => {
    class Slow extends WebSocketConsumer {
      override async receive(data: string | Buffer): Promise<void> {
        await new Promise((r) => setImmediate(r));
        this.send(String(data));
      }
    }
    const c = new WebSocketCommunicator(app([{ path: "/", consumer: Slow }]), "/");
    await c.connect();
    for (let i = 0; i < 500; i++) c.sendText(String(i));
    const got: string[] = [];
    for (let i = 0; i < 500; i++) got.push(await c.receiveText());
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => String(i)));
    await c.disconnect();
  });

  it("communicators of one app object share its route throttle, as connections of one server do", async () => {
    const a = app([{ path: "/", consumer: Echo, throttle: { route: { rate: "1/m", burst: 2 } } }]);
    const [c1, c2] = [new WebSocketCommunicator(a, "/"), new WebSocketCommunicator(a, "/")];
    await c1.connect();
    await c2.connect();
    c1.sendJson(1);
    c2.sendJson(2);
    expect([await c1.receiveJson(), await c2.receiveJson()]).toEqual([1, 2]);
    c2.sendJson(3);
    expect(await c2.receiveJson()).toMatchObject({ type: "error", code: "ERR_THROTTLED" });
    await Promise.all([c1.disconnect(), c2.disconnect()]);
  });
});
