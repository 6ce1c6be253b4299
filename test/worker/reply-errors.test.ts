/**
 * A worker reply that cannot be sent (no message, too large) is a failure the
 * caller hears at once, as a handler that throws is: RequestFailedError from
 * request(), 502 from the gateway. Not a timeout seconds later.
 */
import { afterEach, expect, it } from "vitest";
import { createGateway, InMemoryChannelLayer, RequestFailedError, runWorker } from "../../src/index.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

function worker(handler: Parameters<typeof runWorker>[2]) {
  const layer = new InMemoryChannelLayer({ maxMessageBytes: 10_000 });
  open.push(layer);
  const errors: unknown[] = [];
  const w = runWorker(layer, "prices", handler, { onError: (err) => errors.push(err) });
  open.push({ close: () => w.stop() });
  return { layer, errors };
}

it("request() rejects at once with RequestFailedError when the handler's reply is not a message that can be sent", async () => {
  const { layer, errors } = worker(() => ({ type: "price", at: new Date(0) }));
  const started = Date.now();
  const err = await layer.request("prices", { type: "price.get" }, { timeout: 5000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestFailedError);
  expect(err).toMatchObject({ remoteCode: "ERR_INVALID_MESSAGE", remoteMessage: expect.stringMatching(/Date is not allowed/) });
  expect(Date.now() - started).toBeLessThan(1000);
  expect(errors).toHaveLength(1);
});

it("a reply over maxMessageBytes, sent by ctx.reply, is a RequestFailedError too", async () => {
  const { layer } = worker((_m, ctx) => ctx.reply({ type: "price", blob: "x".repeat(20_000) }));
  const err = await layer.request("prices", { type: "price.get" }, { timeout: 5000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ code: "ERR_REQUEST_FAILED", remoteCode: "ERR_MESSAGE_TOO_LARGE" });
});

it("the gateway answers 502 at once, not 504 after its timeout", async () => {
  const { layer } = worker(() => ({ type: "http.response", status: 200, body: new Date(0) }));
  const gateway = createGateway({ layer, routes: [{ method: "GET", path: "/price", channel: "prices" }], timeout: 5000 });
  open.push(gateway);
  const base = await gateway.listen();
  const started = Date.now();
  const res = await fetch(`${base}/price`);
  expect(res.status).toBe(502);
  expect(((await res.json()) as { error: string }).error).toMatch(/ERR_INVALID_MESSAGE/);
  expect(Date.now() - started).toBeLessThan(1000);
});
