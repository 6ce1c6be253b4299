/**
 * The chat across two server processes that share one tcp broker, in a real
 * browser: a page on each server, one room; what one types, the other sees,
 * and leaving on one server is a notice on the other.
 */
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BrokerServer } from "../../src/index.js";
import { startDemo, stopDemos } from "./demo-process.js";
import { needs } from "../services.js";

await needs("chromium");

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let broker: BrokerServer;
let browser: Browser | undefined;

beforeAll(async () => {
  broker = new BrokerServer({ listen: "tcp://127.0.0.1:0" });
  await broker.listen();
});

afterAll(async () => {
  await browser?.close();
  await stopDemos();
  await broker.close();
});

it("two chat servers on one tcp broker share their rooms", async () => {
  const env = { PORT: "0", HOST: "127.0.0.1", CHANNEL_LAYER_URL: broker.addresses[0]! };
  const [one, two] = await Promise.all([startDemo(env), startDemo(env)]);
  expect(one.url).not.toBe(two.url);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const join = async (url: string, name: string) => {
    const page = await (await browser!.newContext()).newPage();
    await page.goto(url);
    await page.fill("#name", name);
    await page.fill("#room", "harbour");
    await page.click("#join");
    await page.locator("#status", { hasText: `in room harbour as ${name}` }).waitFor();
    return page;
  };
  const ann = await join(one!.url, "ann");
  const bob = await join(two!.url, "bob");
  await ann.locator("#messages li", { hasText: "bob joined" }).waitFor();

  await ann.fill("#text", "hello from server one");
  await ann.press("#text", "Enter");
  await bob.locator("#messages li", { hasText: "ann: hello from server one" }).waitFor();
  await bob.fill("#text", "and back from two");
  await bob.press("#text", "Enter");
  await ann.locator("#messages li", { hasText: "bob: and back from two" }).waitFor();

  // The broker holds both servers' memberships; a page leaving is seen across servers.
  expect((await broker.broker.engine.stats()).members).toBe(2);
  await bob.close();
  await ann.locator("#messages li", { hasText: "bob left" }).waitFor();
  await expect.poll(() => broker.broker.engine.stats().members).toBe(1);
}, 90_000);
