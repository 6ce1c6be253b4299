/**
 * A group send forwarded unchanged by many consumers is framed once and the
 * frame written to every socket (src/consumer/shared-frames.ts). These tests
 * prove no handler can tell: each member's copy stays its own, and every
 * client gets exactly the bytes its consumer sent.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { JsonWebSocketConsumer, WebSocketConsumer, type Message, type MessageValue } from "../../src/index.js";
import { frameWriter, sharedFrame } from "../../src/consumer/shared-frames.js";
import { packr } from "../../src/dependencies/msgpack.js";
import { cleanup, open, startServer, type Client } from "./helpers.js";

afterEach(cleanup);

/** A room member; `?as=` picks what it does with each group send before (or after) forwarding it. */
class Member extends JsonWebSocketConsumer {
  override async connect(): Promise<void> {
    this.accept();
    await this.groupAdd("room");
    this.sendJson("joined");
  }
  override async receiveJson(content: MessageValue): Promise<void> {
    await this.layer.groupSend("room", { type: "room.say", content });
  }
  room_say(m: Message): void {
    const content = m.content as { text: string; n: number };
    switch (this.scope.query.get("as")) {
      case "shout": // changes its copy in place, then forwards it
        content.text = content.text.toUpperCase();
        this.sendJson(content);
        break;
      case "scribble": // forwards, then changes its copy
        this.sendJson(content);
        content.text = "scribbled";
        content.n = -1;
        break;
      case "sign": // sends a new object made from it
        this.sendJson({ ...content, by: this.scope.query.get("name") });
        break;
      default:
        this.sendJson(content);
    }
  }
}

async function join(base: string, query: string): Promise<Client> {
  const c = await open(`${base}/?${query}`);
  expect(await c.json()).toBe("joined");
  return c;
}

describe("frames shared by a group send", () => {
  it("gives every member its own copy: one that changes it, before or after sending, changes nothing another sends", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Member }] });
    // Plain members on both sides of each changer: a shared frame would be reused across them.
    const queries = ["as=plain", "as=shout", "as=plain", "as=scribble", "as=plain"];
    const clients: Client[] = [];
    for (const q of queries) clients.push(await join(base, q));
    for (const n of [1, 2]) {
      clients[0]!.send(JSON.stringify({ text: "hello", n }));
      const got = await Promise.all(clients.map((c) => c.json()));
      expect(got).toEqual([
        { text: "hello", n },
        { text: "HELLO", n },
        { text: "hello", n },
        { text: "hello", n },
        { text: "hello", n },
      ]);
    }
  });

  it("sends each member's own transformation when two members of one room send different things", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Member }] });
    const a = await join(base, "as=sign&name=a");
    const plain = await join(base, "as=plain");
    const b = await join(base, "as=sign&name=b");
    b.send(JSON.stringify({ text: "hi", n: 7 }));
    expect(await a.json()).toEqual({ text: "hi", n: 7, by: "a" });
    expect(await plain.json()).toEqual({ text: "hi", n: 7 });
    expect(await b.json()).toEqual({ text: "hi", n: 7, by: "b" });
  });

  it("frames every payload length whole (7-bit, 16-bit and 64-bit lengths, multi-byte UTF-8), each twice in a row", async () => {
    class Sizes extends WebSocketConsumer {
      override receive(data: string | Buffer): void {
        const [kind, size] = String(data).split(":");
        const n = Number(size);
        for (let i = 0; i < 2; i++) this.send(kind === "text" ? "é".repeat(n / 2) + "x".repeat(n % 2) : Buffer.alloc(n, n % 251));
      }
    }
    const { base } = await startServer({ routes: [{ path: "/", consumer: Sizes }] });
    const c = await open(`${base}/`);
    for (const size of [0, 1, 125, 126, 127, 65535, 65536, 70001]) {
      c.send(`text:${size}`);
      const expected = "é".repeat(size / 2) + "x".repeat(size % 2);
      expect(await c.next()).toBe(expected);
      expect(await c.next()).toBe(expected);
      c.send(`bytes:${size}`);
      expect(await c.next()).toEqual(Buffer.alloc(size, size % 251));
      expect(await c.next()).toEqual(Buffer.alloc(size, size % 251));
    }
  });

  it("sends bytes as they were at send(): changing the array afterwards changes nothing sent, and sending it again sends it as it is then", async () => {
    class Reuse extends WebSocketConsumer {
      override receive(): void {
        const bytes = new Uint8Array([1, 2, 3]);
        this.send(bytes);
        bytes[0] = 9;
        this.send(bytes);
        bytes.fill(0);
      }
    }
    const { base } = await startServer({ routes: [{ path: "/", consumer: Reuse }] });
    const c = await open(`${base}/`);
    c.send("go");
    expect(await c.next()).toEqual(Buffer.from([1, 2, 3]));
    expect(await c.next()).toEqual(Buffer.from([9, 2, 3]));
  });

  it("shares on a msgpack route too, each member keeping its own copy", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Member, frames: "msgpack" }] });
    const clients: Client[] = [];
    for (const q of ["as=plain", "as=shout", "as=plain"]) {
      const c = await open(`${base}/?${q}`);
      expect(packr.unpack((await c.next()) as Buffer)).toBe("joined");
      clients.push(c);
    }
    clients[1]!.send(packr.pack({ text: "bin", n: 1 }));
    const got = await Promise.all(clients.map(async (c) => packr.unpack((await c.next()) as Buffer) as unknown));
    expect(got).toEqual([{ text: "bin", n: 1 }, { text: "BIN", n: 1 }, { text: "bin", n: 1 }]);
  });
});

describe("sharedFrame and frameWriter", () => {
  it("returns the same frame for equal payloads in a row, and a new one for a different payload", () => {
    const first = sharedFrame(JSON.stringify({ a: 1 }));
    expect(sharedFrame(JSON.stringify({ a: 1 }))).toBe(first);
    expect(sharedFrame(JSON.stringify({ a: 2 }))).not.toBe(first);
    const bytes = sharedFrame(Buffer.from([1, 2]));
    expect(sharedFrame(new Uint8Array([1, 2]))).toBe(bytes);
    expect(sharedFrame(Buffer.from([1, 3]))).not.toBe(bytes);
  });

  it("writes prebuilt frames to a server-side ws socket (the ws internals it relies on are there)", async () => {
    const server = createServer();
    const wss = new WebSocketServer({ server });
    const connected = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const received = new Promise<string>((resolve) => client.once("message", (data: Buffer) => resolve(data.toString())));
      const socket = await connected;
      const write = frameWriter(socket);
      expect(write).toBeTypeOf("function");
      expect(write!(sharedFrame("prebuilt"))).toBe(true);
      expect(await received).toBe("prebuilt");
      const closed = new Promise((resolve) => client.once("close", resolve));
      socket.close();
      expect(write!(sharedFrame("after close"))).toBe(false); // closing: the caller's send() decides
      await closed;
    } finally {
      wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
