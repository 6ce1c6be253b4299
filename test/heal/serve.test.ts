/**
 * SPEC §5 at the WebSocket edge: a consumer hears "layer.gap"; a layer that
 * fails closes its sockets with 1012 and refuses new ones with 503; a wrong
 * broker URL makes startup fail fast with one line naming it.
 */
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { BrokerServer, Consumer, RemoteChannelLayer, serve, WebSocketConsumer, type Message } from "../../src/index.js";
import { startChatServer } from "../../examples/chat/chat.js";
import { nodeArgs } from "../children.js";
import { waitFor } from "../wait.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(listen = "tcp://127.0.0.1:0"): Promise<{ server: BrokerServer; url: string }> {
  const server = new BrokerServer({ listen });
  const [url] = await server.listen();
  cleanups.push(() => server.close());
  return { server, url: url! };
}

function remote(url: string, options: ConstructorParameters<typeof RemoteChannelLayer>[1] = {}): RemoteChannelLayer {
  const layer = new RemoteChannelLayer(url, options);
  cleanups.push(() => layer.close());
  return layer;
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe("consumers hear layer.gap", () => {
  it("through dispatch to layer_gap, and a consumer without the handler reports nothing", async () => {
    const first = await broker();
    const layer = remote(first.url);
    const gaps: Message[] = [];
    const errors: unknown[] = [];
    class Resyncing extends Consumer {
      layer_gap(message: Message): void {
        gaps.push(message);
      }
    }
    const withHandler = new Resyncing({ layer, onError: (e) => errors.push(e) });
    const without = new Consumer({ layer, onError: (e) => errors.push(e) });
    await withHandler.start();
    await without.start();
    cleanups.push(() => withHandler.stop(), () => without.stop());
    await layer.whenReady();

    await first.server.close();
    await broker(first.url); // a new broker on the same port: a new epoch
    await waitFor("layer.gap", () => gaps.length === 1, { timeout: 5000 });
    expect(gaps[0]).toMatchObject({ type: "layer.gap", reason: "broker-restarted", at: expect.any(Number) });
    expect(errors).toEqual([]);
  });
});

describe("serve() and a failed layer", () => {
  async function http(): Promise<{ server: Server; port: number }> {
    const server = createServer((_q, r) => r.writeHead(404).end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
    return { server, port: (server.address() as AddressInfo).port };
  }

  it("open sockets close with 1012 when the layer fails; new ones get 503 until it is back", { timeout: 15_000 }, async () => {
    const b = await broker();
    const layer = remote(b.url, { connectTimeout: 500 });
    const { server, port } = await http();
    const service = serve({ server, layer, routes: [{ path: "/ws", consumer: WebSocketConsumer }] });
    cleanups.push(() => service.close());
    await service.ready;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await new Promise((r) => ws.once("open", r));
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));

    await b.server.close();
    expect(await closed).toBe(1012);
    expect(layer.state).toBe("failed");
    const refused = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    refused.on("error", () => {});
    const status = await new Promise<number>((r) => refused.once("unexpected-response", (_q, res) => (res.destroy(), r(res.statusCode!))));
    expect(status).toBe(503);

    await broker(b.url);
    await waitFor("ready", () => layer.state === "ready", { timeout: 5000 });
    const again = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await new Promise((r) => again.once("open", r));
    again.close();
  });

  it("a wrong broker URL makes startup fail fast with one line naming it", { timeout: 15_000 }, async () => {
    const port = await deadPort();
    const layer = remote(`tcp://127.0.0.1:${port}`, { connectTimeout: 1000 });
    const start = Date.now();
    const err = await startChatServer({ layer, port: 0, host: "127.0.0.1" }).then(() => undefined, (e: Error) => e);
    expect(Date.now() - start).toBeLessThan(3000);
    expect(err?.message).toContain(`tcp://127.0.0.1:${port}`);
    expect(err?.message).toContain("connectTimeout");
    expect(err?.message).not.toContain("\n");
  });

  it("the chat demo exits 1 with one line on stderr when CHANNEL_LAYER_URL points nowhere", { timeout: 30_000 }, async () => {
    const port = await deadPort();
    const url = `tcp://127.0.0.1:${port}?connectTimeout=1000`;
    const result = await promisify(execFile)(process.execPath, nodeArgs(new URL("../../examples/chat/server.ts", import.meta.url)), {
      env: { ...process.env, CHANNEL_LAYER_URL: url, PORT: "0" },
    }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(result?.code).toBe(1);
    const lines = result!.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^chat demo: cannot start: .*tcp://127\\.0\\.0\\.1:${port}`));
  });
});
