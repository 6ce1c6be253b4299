/**
 * Fairness: whatever one client asks or however it sends, the others keep
 * being served. A stats census is walked a slice at a time (for the stats
 * op and the HTTP side's figures alike), a connection
 * that dribbles bytes is read rarely, and frames still arriving share one
 * bounded room in which a frame that has its room always completes.
 */
import type { Server as HttpServer, ServerResponse } from "node:http";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BrokerServer } from "../../../src/index.js";
import { ObserveServer } from "../../../src/observe/http.js";
import { Sampler, type Snapshot } from "../../../src/observe/snapshot.js";
import { Broker } from "../../../src/protocol/broker.js";
import { encodeFrames } from "../../../src/protocol/frames.js";
import type { Link } from "../../../src/protocol/link.js";
import { Op, Status } from "../../../src/protocol/ops.js";
import { PartialFrames } from "../../../src/transport/partial-frames.js";
import { streamLink } from "../../../src/transport/stream-link.js";
import { hello, helloClient, type RawClient } from "../helpers.js";

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A session on `broker` over a link that keeps what the broker sends, said hello as `id`. */
function session(broker: Broker, id: string): { frame(f: unknown[]): void; sent: unknown[][] } {
  const sent: unknown[][] = [];
  const link: Link = { send: (frames) => void sent.push(...(frames as unknown[][])), close: () => {} };
  const s = broker.open(link, id);
  s.onFrame(hello(id));
  return { frame: (f) => s.onFrame(f), sent };
}

const answered = (sent: unknown[][], id: number): boolean => sent.some((f) => f[0] === id);

describe("the stats census", () => {
  const brokers: Broker[] = [];
  afterEach(() => {
    for (const b of brokers.splice(0)) b.close();
  });

  it("is walked over many turns on a large broker: others are answered meanwhile, the asker's next request after it", async () => {
    const broker = new Broker();
    brokers.push(broker);
    for (let i = 0; i < 200_000; i++) broker.engine.groupAdd(`g${i}`, `c${i}`);
    broker.engine.groupAdd("g7", "another");
    const asker = session(broker, "asker");
    const other = session(broker, "other");
    asker.frame([Op.Stats, 2, 100]);
    asker.frame([Op.Ping, 3]);
    let turns = 0;
    while (!answered(asker.sent, 2)) {
      other.frame([Op.Ping, 100 + turns]);
      await turn();
      // The other client's request of this turn is answered in this turn, the walk or not.
      expect(answered(other.sent, 100 + turns)).toBe(true);
      turns++;
    }
    expect(turns).toBeGreaterThan(1);
    await turn();
    const ids = asker.sent.map((f) => f[0]);
    expect(ids.indexOf(3)).toBeGreaterThan(ids.indexOf(2));
    const [, status, answer] = asker.sent.find((f) => f[0] === 2)!;
    expect(status).toBe(Status.Ok);
    expect(answer).toMatchObject({ groups: 200_000, groupTop: expect.arrayContaining([{ name: "g7", members: 2 }]) });
    expect((answer as { groupTop: unknown[] }).groupTop).toHaveLength(100);
    expect((answer as { groupTop: unknown[] }).groupTop[0]).toEqual({ name: "g7", members: 2 });
  });

  it("is reused while fresh: a second asker is answered at once, from the same census", async () => {
    const broker = new Broker();
    brokers.push(broker);
    for (let i = 0; i < 50_000; i++) broker.engine.groupAdd(`g${i}`, `c${i}`);
    const first = session(broker, "first");
    first.frame([Op.Stats, 2, 10]);
    while (!answered(first.sent, 2)) await turn();
    const second = session(broker, "second");
    second.frame([Op.Stats, 2, 10]);
    await new Promise((r) => process.nextTick(r));
    expect(second.sent.find((f) => f[0] === 2)?.[2]).toEqual(first.sent.find((f) => f[0] === 2)?.[2]);
  });
});

describe("the HTTP side", () => {
  const open: Array<{ close(): unknown }> = [];
  afterEach(async () => {
    for (const x of open.splice(0).reverse()) await x.close();
  });

  it.each(["/api/stats", "/metrics"])("%s is answered from the census: others are answered in every turn while it is walked", async (path) => {
    const broker = new Broker();
    open.push(broker);
    for (let i = 0; i < 200_000; i++) broker.engine.groupAdd(`g${i}`, `c${i}`);
    const observe = new ObserveServer(broker, { listen: "127.0.0.1:0" });
    open.push(observe);
    const base = await observe.listen();
    // Requests the HTTP server took: each is unanswered until its census is walked.
    const taken: ServerResponse[] = [];
    (observe as unknown as { server: HttpServer }).server.on("request", (_req, res: ServerResponse) => taken.push(res));
    const other = session(broker, "other");
    let done = false;
    const answer = fetch(`${base}${path}`).then(async (res) => {
      const text = await res.text();
      done = true;
      return text;
    });
    let turns = 0;
    let waited = 0;
    while (!done) {
      other.frame([Op.Ping, 100 + turns]);
      await turn();
      expect(answered(other.sent, 100 + turns)).toBe(true);
      if (taken.some((res) => !res.writableEnded)) waited++;
      turns++;
    }
    // Taken in one turn, answered many turns later: the walk was spread over them.
    expect(taken).toHaveLength(1);
    expect(waited).toBeGreaterThan(1);
    expect(await answer).toMatch(path === "/metrics" ? /^channel_layers_groups 200000$/m : /"groups":200000/);
  });

  it("the status page's tick takes its snapshot from the census, never walking the broker in one turn", async () => {
    const broker = new Broker();
    open.push(broker);
    for (let i = 0; i < 200_000; i++) broker.engine.groupAdd(`g${i}`, `c${i}`);
    broker.engine.groupAdd("g7", "another");
    // The walks made whole at once, for local callers: a tick calls neither.
    const stats = vi.spyOn(broker, "stats");
    const top = vi.spyOn(broker, "top");
    const sampler = new Sampler(broker, { interval: 1 });
    open.push(sampler);
    const seen: Snapshot[] = [];
    sampler.watch((snapshot) => seen.push(snapshot));
    const other = session(broker, "other");
    for (let turns = 0; seen.length === 0; turns++) {
      other.frame([Op.Ping, 100 + turns]);
      await turn();
      expect(answered(other.sent, 100 + turns)).toBe(true);
    }
    expect(seen[0]).toMatchObject({ groups: 200_000, members: 200_001 });
    expect(seen[0]!.groupTop[0]).toEqual({ name: "g7", members: 2 });
    expect(stats).not.toHaveBeenCalled();
    expect(top).not.toHaveBeenCalled();
  });
});

describe("reading", () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  it("a connection dribbling bytes onto a partial frame is read a few times, not once a write", async () => {
    const reads: number[] = [];
    server = createServer({ highWaterMark: 0 }, (socket) => {
      sockets.push(socket);
      streamLink(socket, { onFrame: () => {}, onMalformed: () => {}, onClosed: () => {} }, { maxFrameBytes: 1024 * 1024, throttleDribbles: true });
      socket.on("data", (chunk: Buffer) => reads.push(chunk.length));
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const client = createConnection({ host: "127.0.0.1", port });
    sockets.push(client);
    client.setNoDelay(true);
    await new Promise((r) => client.once("connect", r));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(100_000);
    client.write(header);
    for (let i = 0; i < 300; i++) {
      client.write(Buffer.from([0x90]));
      await new Promise((r) => setTimeout(r, 1));
    }
    // Every byte arrives, in far fewer reads than writes: the pauses grow to 128 ms and what came meanwhile comes at once.
    await vi.waitFor(() => expect(reads.reduce((a, b) => a + b, 0)).toBe(304), { timeout: 2000 });
    expect(reads.length).toBeLessThan(60);
  });

  it("frames still arriving share one room; without room a connection waits, and every frame completes", async () => {
    const room = new PartialFrames(3 * 1024 * 1024);
    expect(room.reserve(1024 * 1024, () => {})).toBe(true);
    expect(room.reserve(2 * 1024 * 1024, () => {})).toBe(true);
    const granted: string[] = [];
    expect(room.reserve(1024 * 1024, () => granted.push("a"))).toBe(false);
    // First come, first served: a smaller one behind does not pass it.
    expect(room.reserve(1, () => granted.push("b"))).toBe(false);
    room.release(512 * 1024);
    expect(granted).toEqual([]);
    room.release(512 * 1024);
    expect(granted).toEqual(["a"]);
    room.release(1);
    expect(granted).toEqual(["a", "b"]);
    expect(room.reservedBytes).toBe(3 * 1024 * 1024);

    // On a broker: ten clients each send half of a 900 KB message, where the room holds three; then the rest.
    const broker = new BrokerServer({ listen: "tcp://127.0.0.1:0", maxPartialBytes: 3 * 1024 * 1024 });
    const [url] = await broker.listen();
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < 10; i++) clients.push(await helloClient(url!));
      const frames = clients.map((_, i) => encodeFrames([[Op.Send, 2, `big.${i}`, Buffer.alloc(900 * 1024)]]));
      clients.forEach((c, i) => c.socket.write(frames[i]!.subarray(0, 450 * 1024)));
      // Three have their room (their whole frame's size); seven wait for it, not read.
      const held = (): number => (broker as unknown as { partialFrames: PartialFrames }).partialFrames.reservedBytes;
      await vi.waitFor(() => expect(held()).toBe(3 * frames[0]!.length));
      clients.forEach((c, i) => c.socket.write(frames[i]!.subarray(450 * 1024)));
      for (const c of clients) expect((await c.answer(2, 5000))[1]).toBe(Status.Ok);
      expect(broker.stats().messages).toBe(10);
    } finally {
      for (const c of clients) c.socket.destroy();
      await broker.close();
    }
  });

  it("maxPartialBytes below the largest frame is refused when the broker is made", () => {
    expect(() => new BrokerServer({ maxPartialBytes: 1000 })).toThrow(/maxPartialBytes \(1000\) must be at least maxFrameBytes \+ 4/);
  });
});
