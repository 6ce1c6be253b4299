/**
 * The communicator behaves as `serve()` does over a real socket: each
 * scenario runs once against `serve()` with a real `ws` client on a real
 * port, once against the communicator, and both must see the same frames,
 * refusals, close codes, disconnect codes and reported errors.
 */
import { pack, unpack } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import type { WebSocketApp } from "../../src/index.js";
import { cleanup } from "../consumer/helpers.js";
import { routes, seen } from "./app.js";
import { memory, network, type Run, type Transport } from "./peers.js";

const layers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await cleanup();
  for (const layer of layers.splice(0)) await layer.close();
});

type Scenario = (run: Run) => Promise<unknown[]>;

/** Run `scenario` over both transports; return both transcripts, each ending with what the server saw. */
async function both(scenario: Scenario, app: Omit<WebSocketApp, "layer" | "onError"> = { routes }): Promise<{ real: unknown[]; mem: unknown[] }> {
  const runOn = async (transport: Transport): Promise<unknown[]> => {
    seen.length = 0;
    const run = await transport(app);
    layers.push(run.layer);
    const out = await scenario(run);
    await run.settled();
    return [...out, { seen: [...seen].sort(), errors: run.errors.map((e) => (e.error as Error).message) }];
  };
  const real = await runOn(network);
  const mem = await runOn(memory);
  return { real, mem };
}

describe("the communicator and serve() over a real socket see the same", () => {
  it("routing, params, query, origin and headers; JSON frames; a client close code", async () => {
    const { real, mem } = await both(async ({ peer }) => {
      const p = peer("/echo/al%20ice?x=1", { origin: "https://app.example", headers: { "X-Test": "yes" } });
      const out: unknown[] = [await p.connect()];
      p.sendJson({ hi: [1, "two"] });
      out.push(await p.receiveJson(), await p.receiveNothing(50));
      await p.disconnect(4000);
      out.push(await p.closed);
      return out;
      // A page on another site may connect only when allowed (serve()'s default is the request's own host).
    }, { routes, allowedOrigins: ["https://app.example"] });
    expect(mem).toEqual(real);
    expect(mem[1]).toEqual({ echo: { hi: [1, "two"] }, params: { name: "al ice" }, query: { x: "1" }, origin: "https://app.example", header: "yes" });
    expect(mem.at(-1)).toEqual({ seen: ["/echo/al%20ice disconnect 4000"], errors: [] });
  });

  it("refusals: 404 for no route, 403 from a consumer that closes in connect()", async () => {
    const { real, mem } = await both(async ({ peer }) => [await peer("/nowhere").connect(), await peer("/refuse").connect()]);
    expect(mem).toEqual(real);
    expect(mem.slice(0, 2)).toEqual([
      { accepted: false, status: 404 },
      { accepted: false, status: 403 },
    ]);
    expect(mem.at(-1)).toEqual({ seen: ["refused disconnect 1006"], errors: [] });
  });

  it("subprotocol choice, binary and text frames", async () => {
    const { real, mem } = await both(async ({ peer }) => {
      const p = peer("/proto", { subprotocols: ["a", "b"] });
      const out: unknown[] = [await p.connect()];
      p.sendBytes(new Uint8Array([1, 2, 3]));
      p.sendText("x");
      out.push([...(await p.receiveBytes())], await p.receiveText());
      await p.disconnect();
      return out;
    });
    expect(mem).toEqual(real);
    expect(mem.slice(0, 3)).toEqual([{ accepted: true, subprotocol: "b" }, [3, 2, 1], "text:x"]);
  });

  it("msgpack frames, and error frames for frames a route cannot read", async () => {
    const { real, mem } = await both(async ({ peer }) => {
      const mp = peer("/mp/m");
      const js = peer("/echo/j");
      const out: unknown[] = [await mp.connect(), await js.connect()];
      mp.sendBytes(pack({ n: 1 }));
      out.push(unpack(await mp.receiveBytes()));
      mp.sendText("{}");
      out.push(unpack(await mp.receiveBytes()));
      js.sendText("not json");
      out.push(await js.receiveJson());
      js.sendBytes(new Uint8Array([1]));
      out.push(await js.receiveJson());
      await mp.disconnect();
      await js.disconnect();
      return out;
    });
    expect(mem).toEqual(real);
    expect(mem[2]).toMatchObject({ echo: { n: 1 }, params: { name: "m" } });
    for (const frame of mem.slice(3, 6)) expect(frame).toMatchObject({ type: "error", code: "ERR_BAD_FRAME" });
  });

  it("server closes: by the consumer with its code and reason, and 1011 after a handler error on a closing route", async () => {
    const { real, mem } = await both(async ({ peer }) => {
      const a = peer("/echo/a");
      const b = peer("/strict/b");
      const out: unknown[] = [await a.connect(), await b.connect()];
      a.sendJson({ close: 4001 });
      b.sendJson({ fail: true });
      out.push(await a.closed, await b.closed);
      return out;
    });
    expect(mem).toEqual(real);
    expect(mem.slice(2, 4)).toEqual([
      { code: 4001, reason: "bye" },
      { code: 1011, reason: "internal error" },
    ]);
    expect(mem.at(-1)).toEqual({ seen: ["/echo/a disconnect 4001", "/strict/b disconnect 1011"], errors: ["the handler failed"] });
  });

  it("throttles: error frames over the limit, or a 4029 close", async () => {
    const { real, mem } = await both(async ({ peer }) => {
      const a = peer("/limited");
      const b = peer("/limited-close");
      const out: unknown[] = [await a.connect(), await b.connect()];
      for (const n of [1, 2, 3, 4]) a.sendJson(n);
      const frames = [];
      for (let i = 0; i < 4; i++) frames.push(await a.receiveJson());
      out.push(frames.map((f) => JSON.stringify(f)).sort());
      b.sendJson(1);
      out.push(await b.receiveJson());
      b.sendJson(2);
      out.push(await b.closed);
      await a.disconnect();
      return out;
    });
    expect(mem).toEqual(real);
    expect(mem[4]).toEqual({ code: 4029, reason: "throttled: too many messages" });
  });

  it("a frame over maxPayload closes with 1009 and reports the error", async () => {
    const { real, mem } = await both(
      async ({ peer }) => {
        const p = peer("/echo/big");
        const out: unknown[] = [await p.connect()];
        p.sendText(JSON.stringify("x".repeat(100)));
        out.push(await p.closed);
        return out;
      },
      { routes, maxPayload: 64 },
    );
    expect(mem).toEqual(real);
    expect(mem[1]).toEqual({ code: 1009, reason: "" });
  });

  it("groups: two members of a room hear each other; a third room hears nothing", async () => {
    const { real, mem } = await both(async ({ peer }) => {
      const [a, b, c] = [peer("/room/r1"), peer("/room/r1"), peer("/room/r2")];
      for (const p of [a, b, c]) await p.connect();
      a.sendJson({ from: "a" });
      const out: unknown[] = [await a.receiveJson(), await b.receiveJson(), await c.receiveNothing(100)];
      b.sendJson({ from: "b" });
      out.push(await a.receiveJson(), await b.receiveJson());
      for (const p of [a, b, c]) await p.disconnect();
      return out;
    });
    expect(mem).toEqual(real);
    expect(mem.slice(0, 5)).toEqual([{ from: "a" }, { from: "a" }, true, { from: "b" }, { from: "b" }]);
  });
});
