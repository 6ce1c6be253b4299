import { afterEach, describe, expect, it } from "vitest";
import { createChannelLayer, InMemoryChannelLayer } from "../../src/index.js";

describe("createChannelLayer", () => {
  const saved = process.env.CHANNEL_LAYER_URL;
  afterEach(() => {
    if (saved === undefined) delete process.env.CHANNEL_LAYER_URL;
    else process.env.CHANNEL_LAYER_URL = saved;
  });

  it("defaults to memory://, and reads CHANNEL_LAYER_URL", async () => {
    delete process.env.CHANNEL_LAYER_URL;
    const a = createChannelLayer();
    expect(a).toBeInstanceOf(InMemoryChannelLayer);
    process.env.CHANNEL_LAYER_URL = "memory://";
    const b = createChannelLayer();
    expect(b).toBeInstanceOf(InMemoryChannelLayer);
    await Promise.all([a.close(), b.close()]);
  });

  it("takes options from the query string; explicit options win", async () => {
    const layer = createChannelLayer("memory://?capacity=2&group_expiry=10", { expiry: 5 });
    await layer.send("q", { type: "1" });
    await layer.send("q", { type: "2" });
    await expect(layer.send("q", { type: "3" })).rejects.toMatchObject({ code: "ERR_CHANNEL_FULL" });
    await layer.close();
    expect(() => createChannelLayer("memory://?capacity=lots")).toThrow(/must be a number/);
    expect(() => createChannelLayer("memory://?colour=red")).toThrow(/unknown option "colour"/);
  });

  it("an unknown scheme is an error that lists the known ones", () => {
    expect(() => createChannelLayer("carrier-pigeon://coop")).toThrow(/unknown channel layer scheme "carrier-pigeon:".*known schemes: memory:\/\//);
    expect(() => createChannelLayer("not a url")).toThrow(/not a URL/);
  });

  it("refuses bad options when the layer is made", () => {
    expect(() => new InMemoryChannelLayer({ expiry: 0 })).toThrow(RangeError);
    expect(() => new InMemoryChannelLayer({ groupExpiry: -1 })).toThrow(RangeError);
    expect(() => new InMemoryChannelLayer({ maxMessageBytes: 1.5 })).toThrow(RangeError);
  });
});
