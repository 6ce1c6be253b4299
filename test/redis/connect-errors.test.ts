/**
 * What a wrong Redis URL looks like to a newcomer: one line that names the URL
 * as written and the cause, a "failed" state, and nothing stored anywhere else.
 */
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionLostError, createChannelLayer, type LayerState } from "../../src/index.js";
import type { RedisChannelLayer } from "../../src/redis/layer.js";
import { dbUrl, keysUnder, makeLayer, REDIS_URL, testPrefix } from "./helpers.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => void (await Promise.all(open.splice(0).map((l) => l.close()))));

/** A port nothing listens on: one the OS just handed out and took back. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

/** A layer from `url`, with the states it went through. */
function layerFrom(url: string) {
  const layer = createChannelLayer(url) as RedisChannelLayer;
  open.push(layer);
  const states: LayerState[] = [];
  layer.on("state", (state: LayerState) => states.push(state));
  return { layer, states };
}

describe.each(["redis", "redis+pubsub"])("%s:// URL errors", (scheme) => {
  it("a database number Redis does not have fails at once, naming the URL and the cause, and nothing lands in database 0", async () => {
    const prefix = testPrefix();
    const url = `${scheme}://${new URL(REDIS_URL).host}/99?prefix=${prefix}`;
    const { layer, states } = layerFrom(url);
    const started = Date.now();
    const err = await layer.whenReady().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as Error).message).toMatch(
      new RegExp(`^Redis at ${scheme.replace("+", "\\+")}://[^ ]+/99 refused the connection: ERR DB index is out of range`),
    );
    expect(Date.now() - started).toBeLessThan(2000); // not the 10 s connectionLostTimeout: retrying cannot help
    expect(states).toEqual(["failed"]);
    for (let i = 0; i < 10; i++) await expect(layer.send("lands.nowhere", { type: "x", i })).rejects.toThrow(/DB index is out of range/);
    expect(await keysUnder(prefix, dbUrl(0))).toEqual([]);
  });

  it("a wrong port says ECONNREFUSED, goes failed after connectionLostTimeout, and names the URL as written", async () => {
    const url = `${scheme}://127.0.0.1:${await freePort()}/0?connectionLostTimeout=300`;
    const { layer, states } = layerFrom(url);
    const err = await layer.whenReady().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(
      new RegExp(`^Redis at ${scheme.replace("+", "\\+")}://127\\.0\\.0\\.1:\\d+/0 could not be reached within 300 ms`),
    );
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect((err as Error).message).not.toMatch(/still retrying in the background/);
    expect(states).toContain("failed");
    const sent = await layer.send("c", { type: "x" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(sent).toBeInstanceOf(ConnectionLostError);
    expect((sent as Error).message).toMatch(/ECONNREFUSED/);
    expect((sent as Error).message).not.toMatch(/maxRetriesPerRequest/);
  });
});

it("a clean close deletes the layer's liveness marker, the one key it keeps outside its prefix", async () => {
  const layer = makeLayer(testPrefix());
  await layer.whenReady();
  const instance = /\.([^.!]+)!/.exec(await layer.newChannel())![1]!;
  const client = new Redis(REDIS_URL);
  try {
    await expect.poll(() => client.exists(`channel-layers:alive:${instance}`), { timeout: 5000 }).toBe(1);
    await layer.close();
    expect(await client.exists(`channel-layers:alive:${instance}`)).toBe(0);
  } finally {
    client.disconnect();
  }
});
