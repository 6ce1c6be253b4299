/**
 * examples/django-chat: a page on Daphne (Django Channels, channels_redis) and
 * a page on the Node chat server, in one room, in a real browser; messages
 * cross both ways and a leave on one side is a notice on the other. Once on
 * the core layers (redis://), once on the pub/sub layers (redis+pubsub://).
 */
import { chromium, type Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createChannelLayer, RedisPubSubChannelLayer, RedisChannelLayer } from "../../src/index.js";
import { startChatServer } from "../../examples/chat/chat.js";
import { startDaphne } from "../../examples/django-chat/daphne.js";
import { cleanPrefix, REDIS_URL, testPrefix } from "../redis/helpers.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let browser: Browser;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await browser?.close();
});

async function chatAcross(scheme: "redis" | "redis+pubsub"): Promise<void> {
  const prefix = testPrefix();
  // A room of its own: the Node chat keeps each room's history for the whole process.
  const room = `harbour-${scheme === "redis" ? "core" : "pubsub"}-${prefix.slice(-6)}`;
  const layerUrl = `${REDIS_URL.replace(/^redis:/, `${scheme}:`)}?prefix=${prefix}`;
  if (scheme === "redis") cleanups.push(() => cleanPrefix(prefix));
  const daphne = await startDaphne(layerUrl);
  cleanups.push(() => daphne.stop());
  const layer = createChannelLayer(layerUrl);
  cleanups.push(() => layer.close());
  expect(layer).toBeInstanceOf(scheme === "redis" ? RedisChannelLayer : RedisPubSubChannelLayer);
  const node = await startChatServer({ layer, host: "127.0.0.1" });
  cleanups.push(() => node.close());

  const join = async (url: string, name: string) => {
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
  const django = await join(daphne.url, "dj");
  const nodePage = await join(node.url, "nd");
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
  const again = await join(node.url, "nd2");
  await django.close();
  await again.locator("#messages li", { hasText: "dj left" }).waitFor();
}

describe("Django (Daphne) and Node chat in one room", () => {
  it("on the core layers (redis://)", () => chatAcross("redis"), 90_000);
  it("on the pub/sub layers (redis+pubsub://)", () => chatAcross("redis+pubsub"), 90_000);
});
