/**
 * Resuming group history over WebSockets (docs/recovery.md, "Consumers and
 * the browser"): channel-layers/browser (in Node, on `ws`) against serve()
 * and a consumer that calls groupResume. Every message once and in order
 * across dropped sockets while a sender keeps sending; `recovered: false` and
 * resync when the history cannot cover the gap; and what a hostile client's
 * `$resume` positions can (not) do.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connect, type Connection, type ResumeEvent, type WebSocketConstructor } from "../../src/browser/index.js";
import {
  InMemoryChannelLayer,
  JsonWebSocketConsumer,
  serve,
  type GroupHistoryReadOptions,
  type Message,
  type WebSocketConsumer,
} from "../../src/index.js";
import { Client } from "./helpers.js";
import { waitFor } from "../wait.js";

const GROUP = "room.one";

class Room extends JsonWebSocketConsumer {
  override async connect(): Promise<void> {
    this.accept();
    await this.groupResume(GROUP, { limit: 500 });
  }
  num_message(event: Message): void {
    this.sendJson({ n: event.n as number });
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Setup {
  layer: InMemoryChannelLayer;
  url: string;
  consumers: Set<WebSocketConsumer>;
  logs: string[];
  reads: Array<[string, GroupHistoryReadOptions | undefined]>;
}

async function setup(): Promise<Setup> {
  const layer = new InMemoryChannelLayer({ groupHistory: { "room.*": { size: 1000, ttl: 60 } }, capacity: 2000 });
  const reads: Setup["reads"] = [];
  const read = layer.groupHistory.bind(layer);
  layer.groupHistory = (group, options) => (reads.push([group, options]), read(group, options));
  const consumers = new Set<WebSocketConsumer>();
  class Tracked extends Room {
    override async connect(): Promise<void> {
      consumers.add(this);
      void this.done.then(() => consumers.delete(this));
      await super.connect();
    }
  }
  const server = createServer();
  const logs: string[] = [];
  const service = serve({ server, layer, routes: [{ path: "/ws", consumer: Tracked }], log: (line) => logs.push(line) });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(async () => {
    await service.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await layer.close();
  });
  return { layer, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`, consumers, logs, reads };
}

function page(url: string): { conn: Connection; got: number[]; resumes: ResumeEvent[]; resyncs: Array<{ group?: string }> } {
  const got: number[] = [];
  const resumes: ResumeEvent[] = [];
  const resyncs: Array<{ group?: string }> = [];
  const conn = connect(url, {
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    minDelay: 20,
    maxDelay: 100,
    onMessage: (m) => got.push((m as { n: number }).n),
    onResume: (e) => resumes.push(e),
    resync: (_c, info) => resyncs.push(info),
  });
  cleanups.push(() => conn.close());
  return { conn, got, resumes, resyncs };
}

const send = (layer: InMemoryChannelLayer, n: number): Promise<void> => layer.groupSend(GROUP, { type: "num.message", n });

describe("groupResume and channel-layers/browser", () => {
  it("catches a page up after its socket drops, while a sender keeps sending: every message once, in order", async () => {
    const s = await setup();
    const p = page(s.url);
    await waitFor("the first resume", () => p.resumes.length === 1);
    expect(p.resumes[0]).toEqual({ group: GROUP, recovered: false, first: true });
    let n = 0;
    let drops = 0;
    while (n < 600) {
      await send(s.layer, ++n);
      if (n % 100 === 50) {
        // Drop the page's socket from the server side, as a network cut would; the sender goes on.
        await waitFor("the page back", () => p.conn.state === "open");
        for (const c of s.consumers) c.terminate();
        drops++;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await waitFor("all 600", () => p.got.length >= 600, { timeout: 10_000 }).catch((e) => {
      console.log(p.got.length, p.got.filter((v, i) => i > 0 && v !== p.got[i - 1]! + 1), p.resumes);
      throw e;
    });
    expect(p.got).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    const again = p.resumes.slice(1);
    expect(again.length).toBeGreaterThanOrEqual(1);
    expect(again.length).toBeLessThanOrEqual(drops);
    expect(again.every((e) => e.recovered && !e.first)).toBe(true);
    expect(p.resyncs).toEqual([]);
    expect(p.conn.positions.get(GROUP)?.offset).toBe(600);
  });

  it("says recovered: false and calls resync when the history no longer covers what was missed; then carries on", async () => {
    const s = await setup();
    const p = page(s.url);
    await waitFor("the first resume", () => p.resumes.length === 1);
    await send(s.layer, 1);
    await waitFor("message 1", () => p.got.length === 1);
    // Cut the page off for good while 600 are sent: more than the resume's limit (500).
    p.conn.close();
    for (let n = 2; n <= 601; n++) await send(s.layer, n);
    const q = page(s.url);
    await waitFor("the new page's resume", () => q.resumes.length === 1);
    // A new connection with the old page's position: as the old page would reconnect.
    const old = new Client(`${s.url}?$resume=${encodeURIComponent(JSON.stringify({ [GROUP]: ["x", 1] }))}`);
    await old.opened;
    expect(await old.json()).toEqual({ $resume: GROUP, recovered: false, position: [expect.any(String), 601] });

    // The history is lost (a new epoch) and the membership comes back, as after a backend restart that restored it:
    // the first live message of the new epoch makes the consumer read again, and nothing can be recovered.
    const consumer = [...s.consumers].find((c) => c.scope.query.get("$resume") === "{}")!;
    await s.layer.flush();
    await s.layer.groupAdd(GROUP, consumer.channelName);
    await send(s.layer, 602);
    await waitFor("resync after the epoch changed", () => q.resyncs.length === 1);
    expect(q.resyncs).toEqual([{ group: GROUP }]);
    expect(q.resumes.at(-1)).toEqual({ group: GROUP, recovered: false, first: false });
    // 602 came before the re-read's position: the resync covers it, the live copy is dropped. After it, all live again.
    await send(s.layer, 603);
    await waitFor("603", () => q.got.includes(603));
    expect(q.got).toEqual([603]);
  });

  it("reads history again after a layer gap and replays what the consumer's channel missed", async () => {
    const s = await setup();
    const p = page(s.url);
    await waitFor("the first resume", () => p.resumes.length === 1);
    await send(s.layer, 1);
    await waitFor("message 1", () => p.got.length === 1);
    // As a broker that dropped this server's membership for a while: it misses 2 and 3, then hears of a gap.
    const [consumer] = s.consumers;
    await s.layer.groupDiscard(GROUP, consumer!.channelName);
    await send(s.layer, 2);
    await send(s.layer, 3);
    await s.layer.groupAdd(GROUP, consumer!.channelName);
    s.layer.emit("gap", { reason: "broker-restarted", at: Date.now() });
    await send(s.layer, 4);
    await waitFor("2, 3 and 4", () => p.got.length === 4);
    expect(p.got).toEqual([1, 2, 3, 4]);
    expect(p.resumes.at(-1)).toEqual({ group: GROUP, recovered: true, first: false });
    expect(p.resyncs).toEqual([]);
  });

  it("a plain client (no $resume) gets plain frames and no resume frames", async () => {
    const s = await setup();
    const c = new Client(s.url);
    await c.opened;
    await waitFor("the resume", () => s.consumers.size === 1 && s.reads.length === 1);
    await send(s.layer, 1);
    expect(await c.json()).toEqual({ n: 1 });
  });
});

describe("a hostile page's $resume positions", () => {
  const hinted = (s: Setup, value: string): Client => new Client(`${s.url}?${new URLSearchParams({ $resume: value })}`);

  it("ignores (with one log line) a value that is too long, names too many groups, or is malformed; the page is told recovered: false", async () => {
    const s = await setup();
    for (let n = 1; n <= 3; n++) await send(s.layer, n);
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`room.g${i}`, ["e", 1]]));
    const cases: Array<[string, RegExp]> = [
      ["x".repeat(9000), /9000 characters, more than 8192/],
      [JSON.stringify(many), /names 33 groups, more than 32/],
      ["[1,2]", /not an object/],
      ["{", /not JSON/],
      [JSON.stringify({ "bad name!": ["e", 1] }), /group name "bad name!" is invalid/],
      [JSON.stringify({ [GROUP]: ["e".repeat(65), 1] }), /epoch of "room.one" is not a string of 1 to 64/],
      [JSON.stringify({ [GROUP]: ["e", -1] }), /offset of "room.one" is not a non-negative integer/],
      [JSON.stringify({ [GROUP]: ["e", 2 ** 60] }), /offset/],
      [JSON.stringify({ [GROUP]: { epoch: "e", offset: 1 } }), /is not \[epoch, offset\]/],
    ];
    for (const [value, why] of cases) {
      s.logs.length = 0;
      const c = hinted(s, value);
      await c.opened;
      expect(await c.json()).toEqual({ $resume: GROUP, recovered: false, position: [expect.any(String), 3] });
      expect(s.logs).toHaveLength(1);
      expect(s.logs[0]).toMatch(why);
      expect(s.logs[0]).toMatch(/^WebSocket \/ws: ignored the client's \$resume positions/);
      c.ws.terminate();
    }
  });

  it("a position is only a hint: a forged epoch or an offset ahead gets recovered: false and nothing; one far behind at most `limit`; other groups are never read", async () => {
    const s = await setup();
    for (let n = 1; n <= 3; n++) await send(s.layer, n);
    const { epoch } = (await s.layer.groupHistory(GROUP)).position;
    s.reads.length = 0;

    const forged = hinted(s, JSON.stringify({ [GROUP]: ["0000000000000000", 1], "room.secret": [epoch, 0] }));
    await forged.opened;
    expect(await forged.json()).toEqual({ $resume: GROUP, recovered: false, position: [epoch, 3] });
    const ahead = hinted(s, JSON.stringify({ [GROUP]: [epoch, 1e9] }));
    await ahead.opened;
    expect(await ahead.json()).toEqual({ $resume: GROUP, recovered: false, position: [epoch, 3] });
    // Only the group the consumer joined was read, never the one the page named besides.
    expect(s.reads.map(([g]) => g)).toEqual([GROUP, GROUP]);
    expect(s.reads.every(([, o]) => o?.limit === 500)).toBe(true);

    // Behind by more than the limit: recovered false, nothing replayed.
    for (let n = 4; n <= 600; n++) await send(s.layer, n);
    const behind = hinted(s, JSON.stringify({ [GROUP]: [epoch, 1] }));
    await behind.opened;
    expect(await behind.json()).toEqual({ $resume: GROUP, recovered: false, position: [epoch, 600] });
    // Behind by less: exactly what follows, once.
    const near = hinted(s, JSON.stringify({ [GROUP]: [epoch, 598] }));
    await near.opened;
    expect(await near.json()).toEqual({ $resume: GROUP, recovered: true, position: [epoch, 600] });
    expect(await near.json()).toEqual({ $group: GROUP, $position: [epoch, 599], $content: { n: 599 } });
    expect(await near.json()).toEqual({ $group: GROUP, $position: [epoch, 600], $content: { n: 600 } });
    await send(s.layer, 601);
    expect(await near.json()).toEqual({ $group: GROUP, $position: [epoch, 601], $content: { n: 601 } });
  });

  it("bounds what a consumer resumes: at most 32 groups, options checked before anything is joined", async () => {
    const layer = new InMemoryChannelLayer({ groupHistory: { "g.*": { size: 10, ttl: 60 } } });
    cleanups.push(() => layer.close());
    const { Consumer } = await import("../../src/index.js");
    const c = new Consumer({ layer });
    await c.start();
    cleanups.push(() => c.stop());
    await expect(c.groupResume("g.x", { limit: 0 })).rejects.toThrow(/groupResume limit must be a positive integer/);
    await expect(c.groupResume("g.x", { load: 1.5 })).rejects.toThrow(/groupResume load must be a positive integer/);
    expect((await layer.stats()).members).toBe(0);
    for (let i = 0; i < 32; i++) await c.groupResume(`g.${i}`);
    await expect(c.groupResume("g.32")).rejects.toThrow(/at most 32 groups/);
    await c.groupDiscard("g.0");
    await expect(c.groupResume("g.32")).resolves.toMatchObject({ group: "g.32", recovered: false });
    await c.groupDiscard("g.1");
    await expect(c.groupResume("nohistory")).rejects.toThrow(/keeps no history/);
  });
});
