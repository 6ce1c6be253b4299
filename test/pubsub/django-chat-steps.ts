/**
 * The steps of the Django chat browser tests: a page on Daphne and a page on
 * the Node chat server in one room, in a real Chromium; messages cross both
 * ways and a leave on one side is a notice on the other. The layer under
 * them is the caller's (Redis, Redis pub/sub, or the broker).
 */
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/**
 * A Chromium for the file's tests (launched before them, closed after), and
 * the cleanups each test registers, run after it in reverse.
 */
export function useChromium(): { browser: () => Browser; cleanups: Array<() => Promise<unknown>> } {
  let browser: Browser | undefined;
  const cleanups: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return { browser: () => browser!, cleanups };
}

/** Chat across Daphne (`djangoUrl`) and the Node server (`nodeUrl`) in `room`; what it opens goes to `cleanups`. */
export async function chatAcross(browser: Browser, djangoUrl: string, nodeUrl: string, room: string, cleanups: Array<() => Promise<unknown>>): Promise<void> {
  const join = async (url: string, name: string): Promise<Page> => {
    const context = await browser.newContext();
    cleanups.push(() => context.close());
    const page = await context.newPage();
    await page.goto(url);
    await page.fill("#name", name);
    await page.fill("#room", room);
    await page.click("#join");
    await page.locator("#status", { hasText: `in room ${room} as ${name}` }).waitFor();
    return page;
  };
  const django = await join(djangoUrl, "dj");
  const nodePage = await join(nodeUrl, "nd");
  await django.locator("#messages li", { hasText: "nd joined" }).waitFor();

  await django.fill("#text", "hello from django");
  await django.press("#text", "Enter");
  await nodePage.locator("#messages li", { hasText: "dj: hello from django" }).waitFor();
  await nodePage.fill("#text", "and back from node");
  await nodePage.press("#text", "Enter");
  await django.locator("#messages li", { hasText: "nd: and back from node" }).waitFor();
  // Each side sees its own message too, once: it went through the layer, not around it.
  await django.locator("#messages li", { hasText: "dj: hello from django" }).waitFor();
  expect(await django.locator("#messages li", { hasText: "dj: hello from django" }).count()).toBe(1);

  await nodePage.close();
  await django.locator("#messages li", { hasText: "nd left" }).waitFor();
  const again = await join(nodeUrl, "nd2");
  await django.close();
  await again.locator("#messages li", { hasText: "dj left" }).waitFor();
}
