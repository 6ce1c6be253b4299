/**
 * The chat example in a real browser: Debian's chromium, headless, driven by
 * playwright-core. Two pages join one room; what one types, the other sees.
 * Chromium is installed by .ci/run; if it is missing this test fails.
 */
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CHAT_LAYER_OPTIONS, startChatServer, type ChatServer } from "../../examples/chat/chat.js";
import { InMemoryChannelLayer } from "../../src/index.js";
import { needs } from "../services.js";

await needs("chromium");

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let layer: InMemoryChannelLayer;
let chat: ChatServer;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  layer = new InMemoryChannelLayer(CHAT_LAYER_OPTIONS);
  chat = await startChatServer({ layer, port: 0, host: "127.0.0.1" });
});

/**
 * Launched inside the test, so a missing chromium is a failed test, never a
 * skipped one. playwright's launch() gives the browser a fresh temporary
 * profile and removes it on close.
 */
async function launch(): Promise<void> {
  if (browser !== undefined) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await chat?.close();
  await layer?.close();
});

async function joinRoom(name: string, room: string): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(chat.url);
  await page.fill("#name", name);
  await page.fill("#room", room);
  await page.click("#join");
  await page.locator("#status", { hasText: `in room ${room} as ${name}` }).waitFor();
  return page;
}

const items = (page: Page): Promise<string[]> => page.locator("#messages li").allTextContents();

it("delivers a message typed in one page to another page in the same room", async () => {
  await launch();
  const ann = await joinRoom("ann", "garden");
  const bob = await joinRoom("bob", "garden");
  await ann.locator("#messages li", { hasText: "bob joined" }).waitFor();

  await ann.fill("#text", "hello from ann");
  await ann.press("#text", "Enter");
  await bob.locator("#messages li", { hasText: "ann: hello from ann" }).waitFor();
  await ann.locator("#messages li", { hasText: "ann: hello from ann" }).waitFor();

  await bob.fill("#text", "hi ann");
  await bob.click("#send");
  await ann.locator("#messages li", { hasText: "bob: hi ann" }).waitFor();

  // bob was shown the room's latest messages when he joined: ann's arrival among them.
  expect(await items(bob)).toEqual(["ann joined", "bob joined", "ann: hello from ann", "bob: hi ann"]);
  expect(await items(ann)).toEqual(["ann joined", "bob joined", "ann: hello from ann", "bob: hi ann"]);

  // A page in another room hears none of it.
  const cy = await joinRoom("cy", "elsewhere");
  await ann.fill("#text", "garden only");
  await ann.press("#text", "Enter");
  await bob.locator("#messages li", { hasText: "garden only" }).waitFor();
  expect(await items(cy)).toEqual(["cy joined"]);

  // Closing a page is a leave notice for the room, and its membership is gone.
  await bob.close();
  await ann.locator("#messages li", { hasText: "bob left" }).waitFor();
  await expect.poll(async () => (await layer.stats()).members).toBe(2); // ann and cy
}, 60_000);

it("sendWithAck in the page resolves with what the consumer's handler returned; the answer is no onMessage frame", async () => {
  await launch();
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(chat.url);
  // A string, so that vitest leaves the page's own import() alone: the module as the page gets it from the server.
  const result = (await page.evaluate(`(async () => {
    const { connect } = await import("/channel-layers/browser.js");
    const frames = [];
    const conn = connect("/ws/chat/acks?name=zed", { onMessage: (m) => frames.push(m) });
    await new Promise((resolve) => {
      const poll = setInterval(() => { if (conn.state === "open") { clearInterval(poll); resolve(); } }, 10);
    });
    const answer = await conn.sendWithAck({ type: "message", text: "acked" });
    const quick = await conn.sendWithAck({ type: "message", text: "" });
    conn.close();
    const closed = await conn.sendWithAck({ type: "message", text: "late" }).catch((e) => e.code);
    return { answer, quick, closed, frames };
  })()`)) as { answer: unknown; quick: unknown; closed: unknown; frames: unknown[] };
  expect(result.answer).toEqual({ id: expect.any(String) });
  expect(result.quick).toBeNull(); // the handler answered with an error frame and returned nothing
  expect(result.closed).toBe("ERR_NOT_CONNECTED");
  const said = result.frames.find((f) => (f as { type?: string }).type === "message") as { id: string } | undefined;
  expect(said?.id).toBe((result.answer as { id: string }).id);
  expect(result.frames.some((f) => typeof f === "object" && f !== null && "$ack" in f)).toBe(false);
}, 60_000);

it("shows who is online in a room; a page that closes leaves the other's list within 1 s", async () => {
  if (browser === undefined) await launch();
  const dee = await joinRoom("dee", "porch");
  const eve = await joinRoom("eve", "porch");
  const online = (page: Page): Promise<string[]> => page.locator("#online li").allTextContents();
  await expect.poll(() => online(dee)).toEqual(["dee", "eve"]);
  await expect.poll(() => online(eve)).toEqual(["dee", "eve"]);
  await eve.close();
  const start = Date.now();
  await expect.poll(() => online(dee), { timeout: 1000, interval: 20 }).toEqual(["dee"]);
  expect(Date.now() - start).toBeLessThan(1000);
  expect(await layer.presenceCount("chat.room.porch")).toBe(1);
}, 60_000);
