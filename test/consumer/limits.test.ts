import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { CloseCode, JsonWebSocketConsumer, WebSocketConsumer } from "../../src/index.js";
import { Client, cleanup, open, startServer } from "./helpers.js";
import { waitFor } from "../wait.js";

afterEach(cleanup);

const CHUNK = 64 * 1024;
const FLOOD = 400;
let floodsDone = 0;

/** Sends FLOOD frames of CHUNK bytes as fast as it can on any frame from the client. */
class Flood extends WebSocketConsumer {
  override receive(): void {
    const chunk = Buffer.alloc(CHUNK, 7);
    for (let i = 0; i < FLOOD; i++) this.send(chunk);
    floodsDone++;
  }
}

describe("slow clients", () => {
  it(`closes a client that stops reading with ${CloseCode.slowClient} instead of buffering without bound`, async () => {
    const { base, service } = await startServer({ routes: [{ path: "/", consumer: Flood, maxBufferedBytes: 256 * 1024 }] });
    const c = await open(`${base}/`);
    let received = 0;
    c.ws.on("message", () => received++);
    c.ws.pause();
    const before = floodsDone;
    c.send("go");
    await waitFor("the server flooded", () => floodsDone > before);
    c.ws.resume();
    const { code, reason } = await c.closed;
    expect(code).toBe(CloseCode.slowClient);
    expect(reason).toMatch(/slow client/);
    // What the client got is what fit in the limit plus the kernel's socket buffers; the rest was dropped.
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(FLOOD);
    await waitFor("the consumer stopped", () => service.connections === 0);
  });

  it("lets a client that keeps reading receive everything", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Flood, maxBufferedBytes: 64 * 1024 * 1024 }] });
    const c = await open(`${base}/`);
    let received = 0;
    c.ws.on("message", () => received++);
    c.send("go");
    await waitFor("every frame arrived", () => received === FLOOD);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  it("sends a single message larger than the limit to a client that keeps up", async () => {
    class Big extends WebSocketConsumer {
      override receive(): void {
        this.send(Buffer.alloc(1024 * 1024, 1));
      }
    }
    const { base } = await startServer({ routes: [{ path: "/", consumer: Big, maxBufferedBytes: 64 * 1024 }] });
    const c = await open(`${base}/`);
    c.send("go");
    expect(((await c.next()) as Buffer).length).toBe(1024 * 1024);
  });
});

describe("fast clients", () => {
  /** A server whose handler waits at a gate: what a client sends queues until `openGate()`. */
  async function gatedServer(): Promise<{ base: string; socket: () => Socket; handled: () => number; openGate: () => void }> {
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const sockets: Array<Socket> = [];
    let handled = 0;
    class Gated extends WebSocketConsumer {
      override connect(): void {
        sockets.push(this.scope.request.socket);
        this.accept();
      }
      override async receive(): Promise<void> {
        await gate;
        handled++;
      }
    }
    const { base } = await startServer({ routes: [{ path: "/", consumer: Gated }] });
    return { base, socket: () => sockets[0]!, handled: () => handled, openGate };
  }

  it("stops reading a client that sends faster than its handlers run, and loses none of its frames", async () => {
    const server = await gatedServer();
    const c = await open(`${server.base}/`);
    const frames = 200;
    for (let i = 0; i < frames; i++) c.send(Buffer.alloc(1024, i));
    await waitFor("the server stopped reading the client", () => server.socket().isPaused());
    expect(server.handled()).toBe(0);
    server.openGate();
    await waitFor("every frame was handled", () => server.handled() === frames);
    expect(server.socket().isPaused()).toBe(false);
  });

  it("stops reading a client whose queued frames reach 1 MiB, not only 64 frames: 40 frames of 1 MB are not all held behind a slow handler", async () => {
    const server = await gatedServer();
    const c = await open(`${server.base}/`);
    const frames = 40;
    for (let i = 0; i < frames; i++) c.send(Buffer.alloc(1000 * 1000, i));
    // Bounded by count only, the server read all 40 MB into its queue and never paused.
    await waitFor("the server stopped reading the client", () => server.socket().isPaused());
    await new Promise((r) => setTimeout(r, 200));
    expect(server.socket().bytesRead).toBeLessThan(8 * 1000 * 1000);
    server.openGate();
    await waitFor("every frame was handled", () => server.handled() === frames);
  });
});

describe("shutting down", () => {
  class Member extends JsonWebSocketConsumer {
    override groups = ["everyone"];
  }

  it("closes every connection with 1001, stops every consumer and leaves the groups empty", async () => {
    const { base, service, layer } = await startServer({ routes: [{ path: "/", consumer: Member }] });
    const clients = await Promise.all([1, 2, 3].map(() => open(`${base}/`)));
    expect((await layer.stats()).members).toBe(3);
    await service.close();
    for (const c of clients) expect((await c.closed).code).toBe(CloseCode.goingAway);
    expect(service.connections).toBe(0);
    expect((await layer.stats()).members).toBe(0);
    await expect(new Client(`${base}/`).opened).rejects.toThrow();
  });

  it("drops clients that do not finish the closing handshake within closeTimeout", async () => {
    const { base, service, layer } = await startServer({ routes: [{ path: "/", consumer: Member }], closeTimeout: 100 });
    const c = await open(`${base}/`);
    c.ws.pause(); // never reads the close frame, so never answers it
    await service.close();
    expect(service.connections).toBe(0);
    expect((await layer.stats()).members).toBe(0);
  });

  it("stops a consumer whose handler never returns once closeTimeout has passed", async () => {
    let stuck = false;
    class Stuck extends Member {
      override receiveJson(): Promise<void> {
        stuck = true;
        return new Promise(() => {});
      }
    }
    const { base, service, layer } = await startServer({ routes: [{ path: "/", consumer: Stuck }], closeTimeout: 100 });
    const c = await open(`${base}/`);
    c.send("1");
    await waitFor("the handler hung", () => stuck);
    await service.close();
    expect(service.connections).toBe(0);
    expect((await layer.stats()).members).toBe(0);
  });
});
