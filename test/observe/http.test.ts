/** The HTTP side door: its routes, its event stream, its JSON, its address rules and its close. */
import { request } from "node:http";
import { createConnection } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { RemoteChannelLayer } from "../../src/index.js";
import { ObserveServer, parseHttpAddress } from "../../src/observe/http.js";
import type { Snapshot } from "../../src/observe/snapshot.js";
import { Broker } from "../../src/protocol/broker.js";
import { startObserved } from "./helpers.js";
import { waitFor } from "../wait.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

/** Read server-sent events from `url` until `count` arrived; the connection is then closed. */
function events(url: string, count: number): Promise<Snapshot[]> {
  return new Promise((resolve, reject) => {
    const got: Snapshot[] = [];
    const req = request(url, (res) => {
      expect(res.headers["content-type"]).toBe("text/event-stream");
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          got.push(JSON.parse(event.replace(/^data: /, "")) as Snapshot);
          if (got.length === count) {
            req.destroy();
            resolve(got);
          }
        }
      });
      res.on("end", () => reject(new Error(`the event stream ended after ${got.length} events`)));
    });
    req.on("error", (err) => (got.length < count ? reject(err) : undefined));
    req.end();
  });
}

describe("the HTTP side door", () => {
  it("serves the status page as one self-contained document", async () => {
    const o = await startObserved();
    open.push(o);
    const res = await fetch(`${o.http}/`);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await res.text();
    expect(html).toMatch(/<title>channel-layers broker<\/title>/);
    expect(html).toMatch(/fetch\("events"/);
    // Works offline: nothing is loaded from anywhere else.
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
  });

  it("answers /api/stats with the broker's figures, top lists and rate history", async () => {
    const o = await startObserved({}, { interval: 50 });
    open.push(o);
    const layer = new RemoteChannelLayer(o.url);
    open.push(layer);
    for (let i = 0; i < 5; i++) await layer.send("busy", { type: "m" });
    await layer.send("quiet", { type: "m" });
    await layer.groupAdd("room", "busy");
    await new Promise((r) => setTimeout(r, 250));
    const snap = (await (await fetch(`${o.http}/api/stats`)).json()) as Snapshot;
    expect(snap).toMatchObject({ channels: 2, messages: 6, groups: 1, members: 1, clients: 1 });
    expect(snap.counters.sent).toBe(6);
    expect(snap.channelTop).toEqual([
      { name: "busy", messages: 5, waiting: 0 },
      { name: "quiet", messages: 1, waiting: 0 },
    ]);
    expect(snap.groupTop).toEqual([{ name: "room", members: 1 }]);
    expect(snap.clientList).toHaveLength(1);
    expect(snap.clientList[0]).toMatchObject({ peer: expect.stringMatching(/^tcp 127\.0\.0\.1:\d+$/), pendingReceives: 0 });
    expect(snap.rates.length).toBeGreaterThan(0);
    expect(snap.rates.some((p) => p.sent > 0)).toBe(true);
    expect(snap.rates.every((p, i) => i === 0 || p.at >= snap.rates[i - 1]!.at)).toBe(true);
  });

  it("streams a snapshot at once, then one per interval with only the newest rate point", async () => {
    const o = await startObserved({}, { interval: 50 });
    open.push(o);
    await new Promise((r) => setTimeout(r, 200));
    const [first, second, third] = await events(`${o.http}/events`, 3);
    expect(first!.rates.length).toBeGreaterThan(1);
    expect(second!.rates).toHaveLength(1);
    expect(third!.at).toBeGreaterThanOrEqual(second!.at);
    // The stream's end is noticed: nobody is left watching.
    await new Promise((r) => setTimeout(r, 50));
    expect((o.observe.sampler as unknown as { watchers: Set<unknown> }).watchers.size).toBe(0);
  });

  it("lets go of an event-stream reader that stopped reading", async () => {
    const o = await startObserved({}, { interval: 5, top: 100 });
    open.push(o);
    const layer = new RemoteChannelLayer(o.url);
    open.push(layer);
    // Big snapshots: 100 channels and 100 groups with long names.
    for (let i = 0; i < 100; i++) {
      const name = `${"x".repeat(90)}.${i}`;
      await layer.send(name, { type: "m" });
      await layer.groupAdd(`g${name}`, name);
    }
    const watchers = (o.observe.sampler as unknown as { watchers: Set<unknown> }).watchers;
    const socket = createConnection({ host: "127.0.0.1", port: Number(new URL(o.http).port) });
    socket.on("error", () => {});
    socket.write("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    socket.pause(); // and never read
    await waitFor("the stream is watched", () => watchers.size === 1);
    await waitFor("the unread stream was dropped", () => watchers.size === 0, { timeout: 25_000 });
    socket.destroy();
  });

  it("answers 404 for unknown paths and 405 for anything but GET", async () => {
    const o = await startObserved();
    open.push(o);
    expect((await fetch(`${o.http}/nope`)).status).toBe(404);
    const post = await fetch(`${o.http}/metrics`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("ends event streams and frees its port on close", async () => {
    const broker = new Broker();
    const observe = new ObserveServer(broker);
    const url = await observe.listen();
    const stream = events(`${url}/events`, 2);
    await new Promise((r) => setTimeout(r, 50));
    await observe.close();
    await expect(stream).rejects.toThrow();
    await expect(fetch(`${url}/metrics`)).rejects.toThrow();
    expect(broker.onRequest).toBeUndefined();
    broker.close();
  });

  it("fails to listen on a taken port with the OS's error, releasing what it made", async () => {
    const broker = new Broker();
    const first = new ObserveServer(broker);
    const url = await first.listen();
    const second = new ObserveServer(broker, { listen: url });
    await expect(second.listen()).rejects.toMatchObject({ code: "EADDRINUSE" });
    await first.close();
    broker.close();
  });
});

describe("HTTP listen addresses", () => {
  it("binds a bare port to loopback", () => {
    expect(parseHttpAddress("9464")).toEqual({ host: "127.0.0.1", port: 9464 });
  });

  it("takes host:port, http://host:port and bracketed IPv6", () => {
    expect(parseHttpAddress("0.0.0.0:80")).toEqual({ host: "0.0.0.0", port: 80 });
    expect(parseHttpAddress("http://localhost:9000/")).toEqual({ host: "localhost", port: 9000 });
    expect(parseHttpAddress("[::1]:9464")).toEqual({ host: "::1", port: 9464 });
  });

  it("refuses an address without a port, with a path or that is not one", () => {
    expect(() => parseHttpAddress("127.0.0.1")).toThrow(/has no port/);
    expect(() => parseHttpAddress("127.0.0.1:9000/metrics")).toThrow(/not an HTTP listen address/);
    expect(() => parseHttpAddress("a b:1")).toThrow(/not an HTTP listen address/);
    expect(() => parseHttpAddress("127.0.0.1:70000")).toThrow(/at most 65535/);
  });
});

/** Send `request` on a raw socket; resolves with the status line of the answer. */
function rawStatusLine(base: string, request: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: hostname, port: Number(port) });
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      text += chunk;
      if (text.includes("\r\n")) {
        socket.destroy();
        resolve(text.slice(0, text.indexOf("\r\n")));
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(text));
    socket.write(request);
  });
}

it("answers a request target that is no URL (GET http://[) with 400, before any token, and serves on", async () => {
  // On main, new URL() threw in the request listener: an uncaught exception that ended the broker's process.
  const observed = await startObserved({ token: "s3cret" }, { tokens: ["s3cret"] });
  open.push(observed);
  expect(await rawStatusLine(observed.http, "GET http://[ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).toBe("HTTP/1.1 400 Bad Request");
  expect((await fetch(`${observed.http}/`)).status).toBe(200);
});
