/**
 * Chaos in a real browser (Debian's chromium, headless, via playwright-core):
 * two chat demo processes on one broker process, a page on each in one room.
 * The broker is SIGKILLed and started again: both pages chat again within
 * 10 s and say that messages may be missing (this broker keeps no group
 * history; test/consumer/resume-browser.test.ts covers catching up from
 * it), with neither server restarted. Then
 * one chat server is SIGKILLed and started again: its page reconnects by
 * itself.
 */
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, expect, it } from "vitest";
import { spawnBroker, stopBroker } from "../../bench/backends/broker.js";
import { startDemo, stopDemos } from "../consumer/demo-process.js";
import { needs } from "../services.js";

await needs("chromium");

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let browser: Browser | undefined;
const brokers: ChildProcess[] = [];

afterAll(async () => {
  await browser?.close();
  await stopDemos();
  await Promise.all(brokers.map((b) => stopBroker(b)));
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function broker(listen: string): Promise<{ child: ChildProcess; url: string }> {
  const b = await spawnBroker(listen);
  brokers.push(b.child);
  return b;
}

async function join(url: string, name: string, room: string): Promise<Page> {
  const page = await (await browser!.newContext()).newPage();
  await page.goto(url);
  await page.fill("#name", name);
  await page.fill("#room", room);
  await page.click("#join");
  await page.locator("#status", { hasText: `in room ${room} as ${name}` }).waitFor();
  return page;
}

/** `from` says `text` (again, every 500 ms) until `to` shows it; fails after `ms`. */
async function getsThrough(from: Page, to: Page, text: string, ms: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await from.locator("#send").isEnabled()) {
      await from.fill("#text", text);
      await from.press("#text", "Enter");
    }
    try {
      await to.locator("#messages li", { hasText: text }).first().waitFor({ timeout: 500 });
      return Date.now() - start;
    } catch {
      if (Date.now() - start > ms) throw new Error(`"${text}" did not get through within ${ms} ms`);
    }
  }
}

it("two chat servers on one broker: the broker restarted, then a chat server restarted", { timeout: 180_000 }, async () => {
  const first = await broker("tcp://127.0.0.1:0");
  const layerUrl = first.url;
  const [p1, p2] = [await freePort(), await freePort()];
  const env = (port: number) => ({ CHANNEL_LAYER_URL: layerUrl, PORT: String(port), HOST: "127.0.0.1" });
  const one = await startDemo(env(p1));
  const two = await startDemo(env(p2));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"] });
  const ann = await join(one.url, "ann", "chaos");
  const bob = await join(two.url, "bob", "chaos");
  await getsThrough(ann, bob, "before", 10_000);

  // The broker dies and comes back on the same address, empty.
  first.child.kill("SIGKILL");
  await broker(layerUrl);
  const restartedAt = Date.now();
  // This broker keeps no group history, so each server's consumer tells its page that messages may be missing, naming why.
  const told = "the channel layer was away: broker-restarted";
  await ann.locator("#messages li", { hasText: told }).first().waitFor({ timeout: 10_000 });
  await bob.locator("#messages li", { hasText: told }).first().waitFor({ timeout: 10_000 });
  await getsThrough(ann, bob, "ann after the broker", 10_000);
  await getsThrough(bob, ann, "bob after the broker", 10_000);
  expect(Date.now() - restartedAt).toBeLessThan(10_000);
  // Nothing the page already showed was taken away by the reconnect.
  expect(await bob.locator("#messages li", { hasText: "ann: before" }).count()).toBeGreaterThan(0);

  // Bob's chat server dies and comes back on the same port: his page reconnects by itself.
  two.child.kill("SIGKILL");
  await bob.locator("#status", { hasText: "reconnecting" }).waitFor({ timeout: 10_000 });
  await startDemo(env(p2)); // the new one is stopped by stopDemos() after the test
  await bob.locator("#status", { hasText: "in room chaos as bob" }).waitFor({ timeout: 20_000 });
  await getsThrough(ann, bob, "ann after bob's server", 10_000);
  await getsThrough(bob, ann, "bob after his server", 10_000);
});
