/**
 * A resume's replay waits for the socket to drain (docs/recovery.md,
 * "Consumers and the browser"): a page that resumes with many big messages
 * missed is a healthy client, not a slow one. Real sockets: serve() with a
 * small `maxBufferedBytes`, and a `ws` client in this process (so it reads
 * only when the server yields, as a client whose network is slower than the
 * server's writes).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { InMemoryChannelLayer, JsonWebSocketConsumer, serve, type Message } from "../../src/index.js";
import { cleanup, Client } from "./helpers.js";

const GROUP = "room.big";
const MISSED = 600;
/** 600 × 8 KiB: far more than the kernel's socket buffers and the 64 KiB the server lets a client leave unread. */
const TEXT = "x".repeat(8 * 1024);
const MAX_BUFFERED = 64 * 1024;

class Room extends JsonWebSocketConsumer {
  override async connect(): Promise<void> {
    this.accept();
    await this.groupResume(GROUP, { limit: 1000 });
  }
  big_message(event: Message): void {
    this.sendJson({ n: event.n as number, text: event.text as string });
  }
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await cleanup();
  for (const close of closers.splice(0).reverse()) await close();
});

async function start(): Promise<{ layer: InMemoryChannelLayer; url: string }> {
  const layer = new InMemoryChannelLayer({ groupHistory: { "room.*": { size: 1000, ttl: 60 } } });
  const server = createServer();
  const service = serve({ server, layer, maxBufferedBytes: MAX_BUFFERED, routes: [{ path: "/ws", consumer: Room }], log: () => {} });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(async () => {
    await service.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await layer.close();
  });
  return { layer, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws` };
}

describe("a resume's replay and backpressure", () => {
  it("replays 600 missed messages of 8 KiB to a client that reads them all, without closing it as a slow client", async () => {
    const { layer, url } = await start();
    const { position } = await layer.groupHistory(GROUP, { limit: 1 });
    for (let n = 1; n <= MISSED; n++) await layer.groupSend(GROUP, { type: "big.message", n, text: TEXT });
    const client = new Client(`${url}?$resume=${encodeURIComponent(JSON.stringify({ [GROUP]: [position.epoch, position.offset] }))}`);
    let closed: { code: number } | undefined;
    void client.closed.then((c) => (closed = c));
    await client.opened;
    expect(await client.json()).toEqual({ $resume: GROUP, recovered: true, position: [position.epoch, MISSED] });
    const got: number[] = [];
    while (got.length < MISSED && closed === undefined) {
      const frame = await Promise.race([client.next(), client.closed.then(() => undefined)]);
      if (frame === undefined) break;
      const m = JSON.parse(frame.toString()) as { $position: [string, number]; $content: { n: number; text: string } };
      expect(m.$content.text.length).toBe(TEXT.length);
      got.push(m.$content.n);
    }
    expect(closed).toBeUndefined();
    expect(got).toEqual(Array.from({ length: MISSED }, (_, i) => i + 1));
    // Live again after the replay.
    await layer.groupSend(GROUP, { type: "big.message", n: MISSED + 1, text: "" });
    expect(await client.json()).toMatchObject({ $content: { n: MISSED + 1 } });
  });
});
