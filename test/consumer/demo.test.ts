/**
 * The chat demo as `npm run demo` runs it: a separate process on the layer
 * CHANNEL_LAYER_URL names, printing its URL, stopping cleanly on SIGTERM.
 */
import { once } from "node:events";
import { afterEach, expect, it } from "vitest";
import { startDemo, stopDemos } from "./demo-process.js";
import { cleanup, Client, open } from "./helpers.js";

/** Presence frames each client got, kept aside so the chat's own frames read in order. */
const seen = new Map<Client, unknown[]>();

/** The next frame of `c` that is not about presence. */
async function said(c: Client): Promise<unknown> {
  for (;;) {
    const frame = (await c.json()) as { type?: string };
    if (!String(frame.type).startsWith("presence")) return frame;
    seen.set(c, [...(seen.get(c) ?? []), frame]);
  }
}

afterEach(async () => {
  await cleanup();
  await stopDemos();
});

it("serves the page and the chat on the port it prints, and exits cleanly on SIGTERM", async () => {
  const { child, url } = await startDemo({ PORT: "0", HOST: "127.0.0.1", CHANNEL_LAYER_URL: "memory://" });
  const page = await fetch(url);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain("channel-layers chat");
  expect((await fetch(new URL("/app.js", url))).status).toBe(200);
  expect((await fetch(new URL("/channel-layers/browser.js", url))).status).toBe(200);
  expect((await fetch(new URL("/../../package.json", url))).status).toBe(404);

  const ws = url.replace("http", "ws");
  const ann = await open(`${ws}ws/chat/lobby?name=ann`);
  expect(await said(ann)).toEqual({ type: "welcome", room: "lobby", user: "ann", online: [{ channel: expect.any(String), info: { user: "ann" } }] });
  const bob = await open(`${ws}ws/chat/lobby?name=bob`);
  // A page that joins is shown the room's latest messages first (its group history), then welcomed.
  expect(await said(bob)).toEqual({ type: "notice", text: "ann joined" });
  expect(await said(bob)).toMatchObject({ type: "welcome", user: "bob" });
  expect(await said(ann)).toEqual({ type: "notice", text: "ann joined" });
  expect(await said(ann)).toEqual({ type: "notice", text: "bob joined" });
  bob.send(JSON.stringify({ type: "message", text: "hi" }));
  expect(await said(ann)).toEqual({ type: "message", id: expect.any(String), user: "bob", text: "hi" });
  bob.send(JSON.stringify({ type: "nonsense" }));
  expect(await said(bob)).toEqual({ type: "notice", text: "bob joined" });
  expect(await said(bob)).toEqual({ type: "message", id: expect.any(String), user: "bob", text: "hi" });
  expect(await said(bob)).toMatchObject({ type: "error", code: "ERR_BAD_MESSAGE" });

  // Who is online came alongside: the list with the welcome, then each join.
  expect(seen.get(ann)).toEqual([
    { type: "presence.join", channel: expect.any(String), info: { user: "ann" } },
    { type: "presence.join", channel: expect.any(String), info: { user: "bob" } },
  ]);

  child.kill("SIGTERM");
  const [code] = (await once(child, "exit")) as [number | null];
  expect(code).toBe(0);
  expect((await ann.closed).code).toBe(1001);
});

it("refuses a room name that cannot be a group", async () => {
  const { url } = await startDemo({ PORT: "0", HOST: "127.0.0.1" });
  expect(await new Client(`${url.replace("http", "ws")}ws/chat/bad%20room`).refused).toBe(403);
});

it("fails with a clear message on a channel layer URL it does not know", async () => {
  await expect(startDemo({ PORT: "0", CHANNEL_LAYER_URL: "nope://x" })).rejects.toThrow(/unknown channel layer scheme "nope:"/);
});
