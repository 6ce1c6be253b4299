/**
 * Regenerates docs/status-page.png: a broker with its status page, a
 * couple of minutes of uneven traffic from a few clients, then a screenshot
 * in headless chromium while the traffic still flows.
 *
 *   npx tsx scripts/status-page-screenshot.ts [seconds]   (default 120)
 */
import { chromium } from "playwright-core";
import { BrokerServer, RemoteChannelLayer } from "../src/index.js";
import { ObserveServer } from "../src/observe/http.js";

const seconds = Number(process.argv[2] ?? 120);
const out = new URL("../docs/status-page.png", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The email queue is small, so bursts are refused (the chart's dropped line).
const server = new BrokerServer({ listen: "tcp://127.0.0.1:0", capacity: 5000, expiry: 3600, channelCapacity: { emails: 60 } });
const [url] = await server.listen();
const observe = new ObserveServer(server.broker);
const http = await observe.listen();
const web = new RemoteChannelLayer(url!);
const worker = new RemoteChannelLayer(url!);
const chat = new RemoteChannelLayer(url!);

for (let i = 0; i < 40; i++) await chat.groupAdd("chat.lobby", `chat.user-${i}`);
for (let i = 0; i < 12; i++) await chat.groupAdd("chat.room-42", `chat.user-${i}`);
for (let i = 0; i < 5; i++) await chat.groupAdd("presence", `chat.user-${i}`);
const waits = [worker.receive("jobs.pdf"), worker.receive("jobs.thumbnails"), chat.receive("chat.bot")];
for (const w of waits) w.catch(() => {});

/** Take up to `n` messages from `channel`, stopping when it is empty. */
async function drain(channel: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    try {
      await worker.receive(channel, { signal: AbortSignal.timeout(5) });
    } catch {
      return;
    }
  }
}

const start = Date.now();
let running = true;
const traffic = (async () => {
  while (running) {
    const t = (Date.now() - start) / 1000;
    // A wave of orders; the worker keeps up except in the peaks, so a backlog builds and drains.
    const orders = Math.round(30 + 25 * Math.sin(t / 9));
    for (let i = 0; i < orders; i++) await web.send("orders", { type: "order.created", i });
    await drain("orders", 34);
    const emails = t % 40 < 20 ? 1 : 6;
    for (let i = 0; i < emails; i++) await web.send("emails", { type: "email.send" }).catch(() => {}); // full: refused
    if (t % 40 >= 30) await drain("emails", 8);
    await chat.groupSend(Math.random() < 0.7 ? "chat.room-42" : "chat.lobby", { type: "chat.message", text: "hi" });
    await sleep(100);
  }
})();

await sleep(seconds * 1000);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
await page.goto(`${http}/`);
await page.locator("#live.on").waitFor();
await sleep(1500);
await page.screenshot({ path: out, fullPage: true });
await browser.close();
console.log(`wrote ${out}`);
running = false;
await traffic;

await Promise.all([web.close(), worker.close(), chat.close()]);
await observe.close();
await server.close();
