/**
 * Acknowledgements (Socket.IO's emitWithAck) and "everyone in the room but
 * me": through the communicator, and through channel-layers/browser (with
 * `ws` as its WebSocket) against a real serve().
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connect, type WebSocketConstructor } from "../../src/browser/index.js";
import {
  InMemoryChannelLayer,
  JsonWebSocketConsumer,
  serve,
  type Ack,
  type Message,
  type MessageValue,
  type WebSocketApp,
} from "../../src/index.js";
import { WebSocketCommunicator } from "../../src/testing/index.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

class Room extends JsonWebSocketConsumer {
  override async connect(): Promise<void> {
    this.accept();
    await this.groupAdd("room");
  }
  override async receiveJson(content: MessageValue, ack?: Ack): Promise<MessageValue | void> {
    const c = content as { do?: string; text?: string };
    if (c.do === "say") {
      await this.groupSendOthers("room", { type: "room.said", text: c.text ?? "" });
      return { said: true };
    }
    if (c.do === "early") {
      ack?.("first");
      this.sendJson({ after: "ack" });
      return "ignored: ack() already answered";
    }
    if (c.do === "fail") throw Object.assign(new Error("no such thing"), { code: "ERR_NOT_FOUND" });
    if (c.do === "slow") await new Promise((r) => setTimeout(r, 300));
    if (c.do === "nothing") return;
    this.sendJson({ echo: content });
  }
  room_said(m: Message): void {
    this.sendJson({ heard: m.text! });
  }
}

function app(): WebSocketApp {
  const layer = new InMemoryChannelLayer();
  cleanups.push(() => layer.close());
  return { layer, routes: [{ path: "/", consumer: Room }] };
}

describe("acks through the communicator", () => {
  it("answers with what the handler returned, or gave ack() first; frames around it stay in line", async () => {
    const c = new WebSocketCommunicator(app(), "/");
    await c.connect();
    expect(await c.sendJsonWithAck({ do: "early" })).toBe("first");
    expect(await c.receiveJson()).toEqual({ after: "ack" });
    c.sendJson({ plain: 1 }); // no ack asked: the echo, and nothing else
    expect(await c.sendJsonWithAck({ do: "nothing" })).toBeNull();
    expect(await c.receiveJson()).toEqual({ echo: { plain: 1 } });
    expect(await c.receiveNothing()).toBe(true);
    await c.disconnect();
  });

  it("a handler that throws: its own error is raised; reported, the answer carries its code", async () => {
    const shared = app();
    const raising = new WebSocketCommunicator(shared, "/");
    await raising.connect();
    await expect(raising.sendJsonWithAck({ do: "fail" })).rejects.toThrow("no such thing");
    await raising.disconnect();
    const reporting = new WebSocketCommunicator({ ...shared, onError: () => {} }, "/", { consumerErrors: "report" });
    await reporting.connect();
    await expect(reporting.sendJsonWithAck({ do: "fail" })).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
    await reporting.disconnect();
  });

  it("a malformed ack request is answered with an error frame, and reaches no handler", async () => {
    const c = new WebSocketCommunicator(app(), "/");
    await c.connect();
    const bads: MessageValue[] = [{ $ack: -1, $content: 1 }, { $ack: "x", $content: 1 }, { $ack: 2 ** 40, $content: 1 }, { $ack: 1 }];
    for (const bad of bads) {
      c.sendJson(bad);
      expect(await c.receiveJson()).toMatchObject({ type: "error", code: "ERR_BAD_FRAME" });
    }
    expect(await c.receiveNothing()).toBe(true);
    await c.disconnect();
  });

  it("groupSendOthers: everyone in the room hears it but the sender", async () => {
    const shared = app();
    const [ann, bob, cat] = [
      new WebSocketCommunicator(shared, "/"),
      new WebSocketCommunicator(shared, "/"),
      new WebSocketCommunicator(shared, "/"),
    ];
    for (const c of [ann, bob, cat]) await c.connect();
    expect(await ann.sendJsonWithAck({ do: "say", text: "hi all" })).toEqual({ said: true });
    expect(await bob.receiveJson()).toEqual({ heard: "hi all" });
    expect(await cat.receiveJson()).toEqual({ heard: "hi all" });
    expect(await ann.receiveNothing()).toBe(true);
    for (const c of [ann, bob, cat]) await c.disconnect();
  });
});

describe("sendWithAck in channel-layers/browser, against serve()", () => {
  async function page(timeoutMs?: number) {
    const server = createServer();
    const a = app();
    const service = serve({ server, ...a, allowedOrigins: "*", onError: () => {} }); // the handler that fails on purpose: no log line
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(async () => {
      await service.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });
    const frames: unknown[] = [];
    const conn = connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onMessage: (m) => frames.push(m),
    });
    cleanups.push(() => conn.close());
    await expect.poll(() => conn.state).toBe("open");
    return { conn, frames, timeoutMs };
  }

  it("resolves with the answer, rejects with the handler's code, and with ERR_ACK_TIMEOUT past its timeout", async () => {
    const { conn, frames } = await page();
    expect(await conn.sendWithAck({ do: "nothing" })).toBeNull();
    await expect(conn.sendWithAck({ do: "fail" })).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
    await expect(conn.sendWithAck({ do: "slow" }, { timeout: 50 })).rejects.toMatchObject({ code: "ERR_ACK_TIMEOUT" });
    await new Promise((r) => setTimeout(r, 400)); // the late answer comes, and is dropped: no onMessage for it
    expect(frames.filter((f) => typeof f === "object" && f !== null && "$ack" in f)).toEqual([]);
  });

  it("rejects what waits with ERR_CONNECTION_CLOSED when the connection closes first", async () => {
    const { conn } = await page();
    const waiting = conn.sendWithAck({ do: "slow" });
    conn.close();
    await expect(waiting).rejects.toMatchObject({ code: "ERR_CONNECTION_CLOSED" });
    await expect(conn.sendWithAck({ do: "nothing" })).rejects.toMatchObject({ code: "ERR_NOT_CONNECTED" });
  });
});
