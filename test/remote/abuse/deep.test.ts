/**
 * Deep nesting (issue 23, item 8): JSON parses any depth, so a 200k-deep
 * body reached the message copy and overflowed the stack there. Every message
 * now nests at most 64 levels, checked in the walk `send` already does: the
 * gateway answers 400 (not 500) and a JSON WebSocket route meets the limit
 * its msgpack routes have, with an InvalidMessageError for the handler.
 */
import { afterEach, expect, it } from "vitest";
import WebSocket from "ws";
import { createGateway, InMemoryChannelLayer, InvalidMessageError, JsonWebSocketConsumer, runWorker, type MessageValue } from "../../../src/index.js";
import { cleanup as closeServers, startServer } from "../../consumer/helpers.js";

const open: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c();
  await closeServers();
});

const nested = (depth: number): string => "[".repeat(depth) + "]".repeat(depth);

it("the gateway answers a 200k-deep JSON body with 400, on a plain and a cached route, and serves on", async () => {
  const layer = new InMemoryChannelLayer();
  const worker = runWorker(layer, "app", () => ({ type: "http.response", body: "ok" }));
  const gateway = createGateway({
    layer,
    routes: [
      { method: "POST", path: "/plain", channel: "app" },
      { method: "POST", path: "/cached", channel: "app", cacheFor: 30 },
    ],
    maxBodyBytes: 1024 * 1024,
  });
  open.push(() => layer.close(), () => worker.stop(), () => gateway.close());
  const base = await gateway.listen();
  for (const path of ["/plain", "/cached"]) {
    const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: nested(200_000) });
    expect(res.status, path).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/nests deeper than 64 levels/);
  }
  const fine = await fetch(`${base}/plain`, { method: "POST", headers: { "content-type": "application/json" }, body: nested(60) });
  expect(fine.status).toBe(200);
  expect(gateway.counters.responses["5xx"]).toBeUndefined();
});

it("a JSON WebSocket frame nested past 64 levels fails the handler's send with InvalidMessageError, as a msgpack frame is refused; the server goes on", async () => {
  class Relay extends JsonWebSocketConsumer {
    override async receiveJson(content: MessageValue): Promise<void> {
      await this.layer.send("relayed", { type: "relay", content });
      this.sendJson("sent");
    }
  }
  const errors: unknown[] = [];
  const { base, layer } = await startServer({ routes: [{ path: "/json", consumer: Relay }], onError: (error) => errors.push(error) });
  const ws = new WebSocket(`${base}/json`);
  const replies: string[] = [];
  ws.on("message", (data: Buffer) => replies.push(data.toString()));
  await new Promise((r) => ws.once("open", r));
  open.push(async () => ws.terminate());
  ws.send(nested(100_000));
  ws.send(nested(63)); // 63 levels inside `content`, the message's 64th
  await expect.poll(() => replies.length, { timeout: 5000 }).toBe(1);
  expect(replies).toEqual(['"sent"']);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toBeInstanceOf(InvalidMessageError);
  expect((errors[0] as Error).message).toMatch(/nests deeper than 64 levels/);
  expect(((await layer.receive("relayed")).content as unknown[]).length).toBe(1);
});
