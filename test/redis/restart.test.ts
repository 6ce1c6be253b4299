/**
 * Redis restarted under a running layer: our own redis-server on a free
 * port (never the shared one), killed and started again mid-stream.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionLostError } from "../../src/index.js";
import { RedisChannelLayer } from "../../src/redis/layer.js";
import { sleep } from "../conformance/helpers.js";
import { OwnRedis } from "./own-redis.js";
import { needs } from "../services.js";

await needs("redis-server");

describe("Redis restarted mid-stream", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(connectionLostTimeout: number): Promise<{ redis: OwnRedis; layer: RedisChannelLayer }> {
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.kill());
    const layer = new RedisChannelLayer({ hosts: [`redis://127.0.0.1:${redis.port}`], connectionLostTimeout });
    cleanups.push(() => layer.close());
    return { redis, layer };
  }

  it("recovers: receives waiting across the restart get the messages sent after it, local buffers survive", async () => {
    const { redis, layer } = await setup(10_000);
    const mine = await layer.newChannel();
    const idle = await layer.newChannel();
    for (let i = 0; i < 5; i++) await layer.send("stream", { type: "n", i });
    for (let i = 0; i < 5; i++) expect((await layer.receive("stream")).i).toBe(i);
    await layer.send(idle, { type: "kept locally" });
    await layer.send(mine, { type: "before" });
    expect((await layer.receive(mine)).type).toBe("before"); // pops idle's message into its local buffer too

    const waitingNormal = layer.receive("stream");
    const waitingLocal = layer.receive(mine);
    await sleep(50);
    await redis.kill();
    await sleep(300);
    await redis.start();
    // Sends made as it comes back up are queued and delivered once it answers.
    await layer.send("stream", { type: "n", i: 5 });
    await layer.send(mine, { type: "after" });
    expect((await waitingNormal).i).toBe(5);
    expect((await waitingLocal).type).toBe("after");
    expect((await layer.receive(idle)).type).toBe("kept locally");
    for (let i = 6; i < 20; i++) await layer.send("stream", { type: "n", i });
    for (let i = 6; i < 20; i++) expect((await layer.receive("stream")).i).toBe(i);
  });

  it("rejects with ConnectionLostError when Redis stays down past the timeout, then works again", async () => {
    const { redis, layer } = await setup(600);
    await layer.send("x", { type: "up" });
    expect((await layer.receive("x")).type).toBe("up");
    const waiting = layer.receive("x");
    waiting.catch(() => {});
    await redis.kill();
    const started = performance.now();
    await expect(layer.send("x", { type: "down" })).rejects.toBeInstanceOf(ConnectionLostError);
    await expect(waiting).rejects.toBeInstanceOf(ConnectionLostError);
    await expect(layer.groupSend("g", { type: "down" })).rejects.toMatchObject({ code: "ERR_CONNECTION_LOST" });
    expect(performance.now() - started).toBeLessThan(5000);
    await redis.start();
    await sleep(200);
    await layer.send("x", { type: "back" });
    expect((await layer.receive("x")).type).toBe("back");
  });
});
