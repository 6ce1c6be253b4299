import { afterEach, describe, expect, it } from "vitest";
import { CloseCode, Throttle, WebSocketConsumer } from "../../src/index.js";
import { parseRate } from "../../src/options/traffic.js";
import { cleanup, open, startServer } from "./helpers.js";

afterEach(cleanup);

describe("throttle buckets", () => {
  it('reads "N/s", "N/m" and "N/h" rates, and refuses what it cannot read', () => {
    expect(parseRate("20/s", "rate").perMs).toBeCloseTo(0.02);
    expect(parseRate("60/m", "rate").perMs).toBeCloseTo(0.001);
    expect(parseRate(" 3600 / hour ", "rate").perMs).toBeCloseTo(0.001);
    for (const bad of ["20", "x/s", "0/s", "-1/s", "20/fortnight", ""]) expect(() => new Throttle({ connection: bad })).toThrow(RangeError);
    expect(() => new Throttle({ route: { rate: "1/s", burst: 0 } })).toThrow(RangeError);
    expect(() => new Throttle({ route: { rate: "1/s", burst: 1.5 } })).toThrow(RangeError);
  });

  it("allows a burst at once, then refills at the rate, never past the burst", () => {
    let now = 0;
    const admit = new Throttle({ connection: { rate: "20/s", burst: 5 } }, () => now).forConnection();
    expect(Array.from({ length: 6 }, admit)).toEqual([true, true, true, true, true, false]);
    now += 50; // one token at 20/s
    expect(admit()).toBe(true);
    expect(admit()).toBe(false);
    now += 10_000;
    expect(Array.from({ length: 6 }, admit).filter(Boolean)).toHaveLength(5);
  });

  it("defaults the burst to one second's worth", () => {
    const admit = new Throttle({ connection: "3/s" }, () => 0).forConnection();
    expect(Array.from({ length: 4 }, admit)).toEqual([true, true, true, false]);
  });

  it("shares the route bucket between connections and gives each its own", () => {
    const now = 0;
    const throttle = new Throttle({ connection: { rate: "1/s", burst: 2 }, route: { rate: "1/s", burst: 3 } }, () => now);
    const a = throttle.forConnection();
    const b = throttle.forConnection();
    expect([a(), a(), a()]).toEqual([true, true, false]); // a's own bucket is empty
    expect([b(), b()]).toEqual([true, false]); // the route's third token, then the route is empty
  });
});

class Echo extends WebSocketConsumer {
  override receive(data: string | Buffer): void {
    this.send(`echo:${data}`);
  }
}

describe("throttled routes", () => {
  it("drops frames over the limit with an error frame and goes on", async () => {
    const { base } = await startServer({
      routes: [{ path: "/", consumer: Echo, throttle: { connection: { rate: "1/m", burst: 2 } } }],
    });
    const c = await open(`${base}/`);
    for (const m of ["a", "b", "c", "d"]) c.send(m);
    // The refusal is sent at once, not queued behind the frames being handled.
    const frames = [await c.next(), await c.next(), await c.next(), await c.next()] as string[];
    expect(frames.filter((f) => f.startsWith("echo:"))).toEqual(["echo:a", "echo:b"]);
    const errors = frames.filter((f) => !f.startsWith("echo:")).map((f) => JSON.parse(f) as unknown);
    expect(errors).toEqual([0, 1].map(() => expect.objectContaining({ type: "error", code: "ERR_THROTTLED" })));
  });

  it(`closes with ${CloseCode.throttled} over the limit when so configured`, async () => {
    const { base } = await startServer({
      routes: [{ path: "/", consumer: Echo, throttle: { connection: "1/m", onLimit: "close" } }],
    });
    const c = await open(`${base}/`);
    c.send("a");
    c.send("b");
    expect(await c.closed).toEqual({ code: CloseCode.throttled, reason: "throttled: too many messages" });
  });

  it("limits a whole route across its connections", async () => {
    const { base } = await startServer({ routes: [{ path: "/", consumer: Echo, throttle: { route: { rate: "1/m", burst: 2 } } }] });
    const a = await open(`${base}/`);
    const b = await open(`${base}/`);
    a.send("1");
    expect(await a.next()).toBe("echo:1");
    b.send("2");
    expect(await b.next()).toBe("echo:2");
    a.send("3");
    expect(JSON.parse((await a.next()) as string)).toMatchObject({ code: "ERR_THROTTLED" });
  });

  it("refuses a bad throttle when serving starts", async () => {
    await expect(startServer({ routes: [{ path: "/", consumer: Echo, throttle: { connection: "fast" } }] })).rejects.toThrow(RangeError);
    await expect(startServer({ routes: [{ path: "/", consumer: Echo, throttle: { route: "1/s", onLimit: "ignore" as "close" } }] })).rejects.toThrow(
      /onLimit/,
    );
  });
});
