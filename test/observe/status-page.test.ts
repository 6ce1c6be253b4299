/**
 * The status page in a real browser: Debian's chromium, headless, driven by
 * playwright-core, reading a real broker that real clients use. Its numbers
 * must match the broker's, change without a reload when traffic changes
 * them, and the rate chart must draw. A screenshot is written to
 * test-artifacts/status-page.png. Chromium is installed by .ci/run; if it
 * is missing this test fails rather than skips.
 */
import { mkdirSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RemoteChannelLayer } from "../../src/index.js";
import { startObserved, type Observed } from "./helpers.js";
import { needs } from "../services.js";
import { sleep } from "../wait.js";

await needs("chromium");

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url);

let o: Observed;
let browser: Browser | undefined;
const layers: RemoteChannelLayer[] = [];
const client = (): RemoteChannelLayer => {
  const l = new RemoteChannelLayer(o.url);
  layers.push(l);
  return l;
};

beforeAll(async () => {
  o = await startObserved({ capacity: 100_000 }, { interval: 250 });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(layers.map((l) => l.close()));
  await o?.close();
});


/** The figure shown in element `#id`, as a number ("1,234" → 1234). */
async function shown(page: Page, id: string): Promise<number> {
  return Number((await page.locator(`#${id}`).textContent())!.replace(/,/g, ""));
}

async function figures(page: Page) {
  const keys = ["channels", "messages", "waitingReceivers", "groups", "members", "clients"] as const;
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = await shown(page, k);
  out.sent = await shown(page, "counter-sent");
  out.received = await shown(page, "counter-received");
  return out;
}

function brokerFigures() {
  const s = o.server.stats();
  const { channels, messages, waitingReceivers, groups, members, clients } = s;
  return { channels, messages, waitingReceivers, groups, members, clients, sent: s.counters.sent, received: s.counters.received };
}

it("shows the broker's figures, top lists, clients and a rate chart, updating live", async () => {
  const producer = client();
  const worker = client();
  const watcher = client();
  for (let i = 0; i < 6; i++) await producer.groupAdd("chat.lobby", `chat.user-${i}`);
  for (let i = 0; i < 3; i++) await producer.groupAdd("chat.room-42", `chat.user-${i}`);
  const waiting = watcher.receive("notifications");
  waiting.catch(() => {}); // awaited at the end; a failure before that must not leave it unhandled

  // A few seconds of traffic: orders arrive faster than the worker takes them.
  let running = true;
  const traffic = (async () => {
    for (let tick = 0; running; tick++) {
      for (let i = 0; i < 20; i++) await producer.send("orders", { type: "order", tick, i });
      await producer.send("emails", { type: "email", tick });
      await producer.groupSend("chat.lobby", { type: "chat.message", tick });
      for (let i = 0; i < 12; i++) await worker.receive("orders");
      await sleep(40);
    }
  })();

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const pageErrors: Error[] = [];
  page.on("pageerror", (err) => pageErrors.push(err));
  await page.goto(`${o.http}/`);
  await page.locator("#live.on").waitFor();
  await sleep(4000);
  running = false;
  await traffic;

  // Traffic stopped: the page settles on exactly what the broker holds.
  await expect.poll(() => figures(page), { timeout: 5000 }).toEqual(brokerFigures());
  const settled = brokerFigures();
  expect(settled).toMatchObject({ groups: 2, members: 9, clients: 3, waitingReceivers: 1 });
  expect(settled.messages).toBeGreaterThan(0);

  const top = o.server.broker.top(10, 0);
  const channelRows = await page.locator("#top-channels tbody tr").allTextContents();
  expect(channelRows[0]).toContain("orders");
  expect(channelRows[0]).toContain(new Intl.NumberFormat("en-US").format(top.channelTop[0]!.messages));
  expect(await page.locator("#top-groups tbody tr").allTextContents()).toEqual(["chat.lobby6", "chat.room-423"]);
  const clientRows = page.locator("#client-list tbody tr");
  await expect.poll(() => clientRows.count()).toBe(3);
  expect((await clientRows.allTextContents()).every((row) => row.includes("tcp 127.0.0.1:"))).toBe(true);
  // The watcher's one waiting receive; the others wait for nothing.
  expect((await page.locator("#client-list tbody td:nth-child(4)").allTextContents()).sort()).toEqual(["0", "0", "1"]);

  // The chart drew the rate of stored messages: its line colour is on the canvas.
  // (A string: this project's TypeScript has no DOM types.)
  const sentPixels = await page.evaluate<number>(`(() => {
    const canvas = document.getElementById("chart");
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - 0x2f) < 30 && Math.abs(data[i + 1] - 0x6f) < 30 && Math.abs(data[i + 2] - 0xde) < 30) n++;
    }
    return n;
  })()`);
  expect(sentPixels).toBeGreaterThan(50);

  // More traffic: the open page follows without a reload.
  for (let i = 0; i < 25; i++) await producer.send("backlog", { type: "late", i });
  await watcher.groupAdd("chat.room-42", "chat.user-9");
  const after = brokerFigures();
  expect(after.messages).toBe(settled.messages + 25);
  await expect.poll(() => figures(page), { timeout: 5000 }).toEqual(after);
  await expect.poll(() => page.locator("#top-groups tbody tr").allTextContents()).toEqual(["chat.lobby6", "chat.room-424"]);

  expect(pageErrors).toEqual([]);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: new URL("status-page.png", ARTIFACTS).pathname, fullPage: true });

  // The server goes away: the page says so instead of showing stale figures as live.
  await o.observe.close();
  await page.locator("#live.off", { hasText: "reconnecting" }).waitFor();

  await producer.send("notifications", { type: "done" });
  await waiting;
});
