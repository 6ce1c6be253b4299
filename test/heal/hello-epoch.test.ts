/** The wire side of SPEC §5: hello names the broker's epoch and whether it still held the client; a restoring GroupAdd's expiry is checked and capped. */
import { afterEach, describe, expect, it } from "vitest";
import { Op, Status } from "../../src/protocol/ops.js";
import { helloClient, startBroker, type RawClient } from "../remote/helpers.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(options: { groupExpiry?: number; localGrace?: number } = {}) {
  const b = await startBroker(options);
  cleanups.push(() => b.server.close());
  return b;
}

function client(raw: RawClient): RawClient {
  cleanups.push(() => raw.socket.destroy());
  return raw;
}

describe("hello", () => {
  it("names the broker's epoch, the same for every client of one broker, and whether it resumed the instance", async () => {
    const one = await broker();
    const two = await broker();
    const a = client(await helloClient(one.url, "inst1"));
    const b = client(await helloClient(one.url, "inst2"));
    const c = client(await helloClient(two.url, "inst1"));
    const info = (raw: RawClient) => raw.frames[0]![2] as { epoch: string; resumed: boolean };
    expect(info(a).epoch).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(info(a).epoch).toBe(info(b).epoch);
    expect(info(c).epoch).not.toBe(info(a).epoch);
    expect(info(a).resumed).toBe(false);
    // A second connection of a known instance (or one back within its grace), with its secret, is resumed.
    const again = client(await helloClient(one.url, "inst1"));
    expect(info(again).resumed).toBe(true);
  });
});

describe("GroupAdd with an expiry", () => {
  it("refuses what is not positive seconds, answering with an error and keeping the connection", async () => {
    const b = await broker();
    const raw = client(await helloClient(b.url));
    const bad = [0, -1, "10", Infinity, Number.NaN, [1], {}];
    raw.send(...bad.map((expiry, i) => [Op.GroupAdd, 10 + i, "g", "c", expiry]));
    for (let i = 0; i < bad.length; i++) {
      const [, status, code] = await raw.answer(10 + i);
      expect(status).toBe(Status.Error);
      expect(code).toBe("ERR_PROTOCOL");
    }
    raw.send([Op.GroupAdd, 30, "g", "c", 5]);
    expect((await raw.answer(30))[1]).toBe(Status.Ok);
    expect(b.server.broker.stats().members).toBe(1);
  });

  it("never lasts longer than the broker's groupExpiry", async () => {
    const b = await broker({ groupExpiry: 1 });
    const raw = client(await helloClient(b.url));
    raw.send([Op.GroupAdd, 2, "g", "c", 1e9]);
    expect((await raw.answer(2))[1]).toBe(Status.Ok);
    const top = b.server.broker.top(1, 0);
    expect(top.groupTop[0]).toMatchObject({ name: "g" });
    // Past groupExpiry the membership is gone, however long the client asked for.
    await new Promise((r) => setTimeout(r, 1300));
    b.server.broker.engine.groupSend("g", Buffer.from([0x80]));
    expect(b.server.broker.stats().members).toBe(0);
  });
});
