/**
 * A consumer's error fails the test that caused it, as Channels' communicator
 * raises the application's exception: the next receive, a receive already
 * waiting, connect() or disconnect() rejects with it. `consumerErrors: "report"`
 * is the way out for tests that expect errors.
 */
import { afterEach, expect, it, vi } from "vitest";
import { InMemoryChannelLayer, JsonWebSocketConsumer, NoHandlerError, type MessageValue, type WebSocketApp } from "../../src/index.js";
import { WebSocketCommunicator } from "../../src/testing/index.js";

const layers: InMemoryChannelLayer[] = [];
afterEach(async () => {
  for (const layer of layers.splice(0)) await layer.close();
  vi.restoreAllMocks();
});

class Fragile extends JsonWebSocketConsumer {
  override receiveJson(content: MessageValue): void {
    if ((content as { boom?: boolean }).boom) throw new Error("kaboom");
    this.sendJson(content);
  }
}

function app(extra: Partial<WebSocketApp> = {}): WebSocketApp {
  const layer = new InMemoryChannelLayer();
  layers.push(layer);
  return { layer, routes: [{ path: "/", consumer: Fragile }], ...extra };
}

it("a handler that throws rejects the receive waiting for its answer with the handler's own error, and nothing is logged", async () => {
  const logged = vi.spyOn(console, "error").mockImplementation(() => {});
  const c = new WebSocketCommunicator(app(), "/");
  await c.connect();
  c.sendJson({ boom: true });
  const err = await c.receiveJson({ timeout: 2000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toBe("kaboom");
  expect((err as Error).stack).toMatch(/receiveJson/); // the stack of the throw, in the consumer
  expect(c.errors).toEqual([err]);
  // Raised once: the connection goes on (handlerErrors: "continue").
  c.sendJson({ ok: 1 });
  expect(await c.receiveJson()).toEqual({ ok: 1 });
  await c.disconnect();
  expect(logged).not.toHaveBeenCalled();
});

it("an error nobody waited for rejects the next call: receiveNothing, then disconnect", async () => {
  const c = new WebSocketCommunicator(app(), "/");
  await c.connect();
  c.sendJson({ boom: true });
  await expect(c.receiveNothing(200)).rejects.toThrow("kaboom");
  c.sendJson({ boom: true });
  await vi.waitFor(() => expect(c.errors).toHaveLength(2));
  await expect(c.disconnect()).rejects.toThrow("kaboom");
});

it("a layer message with no handler is raised too", async () => {
  const a = app();
  class Joins extends Fragile {
    override async connect(): Promise<void> {
      this.accept();
      await this.groupAdd("room");
    }
  }
  a.routes = [{ path: "/", consumer: Joins }];
  const c = new WebSocketCommunicator(a, "/");
  await c.connect();
  await a.layer.groupSend("room", { type: "no.such.handler" });
  await expect(c.receiveJson({ timeout: 2000 })).rejects.toBeInstanceOf(NoHandlerError);
  await c.disconnect();
});

it('consumerErrors: "report" raises nothing: the app\'s onError (else the log) hears it, and errors keeps it', async () => {
  const heard: unknown[] = [];
  const c = new WebSocketCommunicator(app({ onError: (e) => heard.push(e) }), "/", { consumerErrors: "report" });
  await c.connect();
  c.sendJson({ boom: true });
  expect(await c.receiveNothing(200)).toBe(true);
  await c.disconnect();
  expect(heard).toHaveLength(1);
  expect(c.errors).toEqual(heard);

  const logged = vi.spyOn(console, "error").mockImplementation(() => {});
  const quiet = new WebSocketCommunicator(app(), "/", { consumerErrors: "report" });
  await quiet.connect();
  quiet.sendJson({ boom: true });
  await vi.waitFor(() => expect(logged).toHaveBeenCalledTimes(1));
  await quiet.disconnect();
});

it("errors stay with the communicator whose consumer had them, when several share one app", async () => {
  const shared = app();
  const [a, b] = [new WebSocketCommunicator(shared, "/"), new WebSocketCommunicator(shared, "/")];
  await a.connect();
  await b.connect();
  a.sendJson({ boom: true });
  await expect(a.receiveJson()).rejects.toThrow("kaboom");
  b.sendJson({ fine: true });
  expect(await b.receiveJson()).toEqual({ fine: true });
  expect(b.errors).toEqual([]);
  await a.disconnect();
  await b.disconnect();
});
