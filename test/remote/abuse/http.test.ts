/**
 * Attack-table row 4: the broker's HTTP side answered without the token and
 * could bind every interface. Now it asks for a bearer token whenever it has
 * one, and refuses a non-loopback address without one, at start.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import { afterAll, expect, it } from "vitest";
import { CLI } from "../../../bench/backends/broker.js";
import { BrokerServer, RemoteChannelLayer } from "../../../src/index.js";
import { ObserveServer } from "../../../src/observe/http.js";
import { tempDir } from "../helpers.js";
import { startObserved } from "../../observe/helpers.js";
import { needs } from "../../services.js";
import { nodeArgs } from "../../children.js";

await needs("chromium");

const dir = tempDir();
afterAll(() => dir.remove());

it("/api/stats, /metrics and /events answer 401 without the token, 200 with it", async () => {
  const o = await startObserved({ token: "s3cret" }, { tokens: ["s3cret"] });
  try {
    for (const path of ["/api/stats", "/metrics", "/events"]) {
      const bare = await fetch(`${o.http}${path}`);
      expect(bare.status).toBe(401);
      expect(bare.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(await bare.text()).not.toMatch(/channels|channel_layers/);
      expect((await fetch(`${o.http}${path}`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    }
    const ok = await fetch(`${o.http}/api/stats`, { headers: { authorization: "Bearer s3cret" } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toHaveProperty("clients");
    const metrics = await fetch(`${o.http}/metrics`, { headers: { authorization: "Bearer s3cret" } });
    expect(await metrics.text()).toMatch(/channel_layers_messages/);
    // The page itself holds no figures; it asks for the token.
    const page = await fetch(`${o.http}/`);
    expect(page.status).toBe(200);
  } finally {
    await o.close();
  }
});

it("the status page asks for the token in a real browser, then shows the broker", async () => {
  const o = await startObserved({ token: "s3cret" }, { tokens: ["s3cret"], interval: 250 });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  const layer = new RemoteChannelLayer(o.url, { token: "s3cret" });
  try {
    await layer.send("seen", { type: "x" });
    const page = await browser.newPage();
    const asked: string[] = [];
    page.on("dialog", (d) => {
      asked.push(d.message());
      void d.accept("s3cret");
    });
    await page.goto(`${o.http}/`);
    await expect.poll(() => page.locator("#live").textContent(), { timeout: 5000 }).toBe("live");
    await expect.poll(() => page.locator("#messages").textContent(), { timeout: 5000 }).toBe("1");
    expect(asked).toEqual(["This status page needs the broker's token:"]);
  } finally {
    await layer.close();
    await browser.close();
    await o.close();
  }
});

it("refuses a non-loopback address without a token, at construction", async () => {
  const server = new BrokerServer({ listen: "tcp://127.0.0.1:0" });
  try {
    expect(() => new ObserveServer(server.broker, { listen: "0.0.0.0:0" })).toThrow(/not loopback\) without a token/);
    expect(() => new ObserveServer(server.broker, { listen: "127.0.0.1:0" })).not.toThrow();
  } finally {
    await server.close();
  }
});

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, [...nodeArgs(CLI), ...args], { timeout: 15_000 });

it("serve --http 0.0.0.0:PORT without a token exits 2 with one line naming the flags", async () => {
  const err = (await cli("serve", "--listen", "tcp://127.0.0.1:0", "--http", "0.0.0.0:0").catch((e: unknown) => e)) as {
    code: number;
    stderr: string;
  };
  expect(err.code).toBe(2);
  expect(err.stderr.trim().split("\n")).toHaveLength(1);
  expect(err.stderr).toMatch(/--http 0\.0\.0\.0:0 is not loopback: give --token-file or --http-token-file/);
});

it("serve --listen on a non-loopback address without a token warns; a token file without an admin cannot open --http", async () => {
  const file = join(dir.path, "tokens");
  writeFileSync(file, "web send=chat.*\n");
  const err = (await cli("serve", "--listen", "tcp://127.0.0.1:0", "--token-file", file, "--http", "127.0.0.1:0").catch(
    (e: unknown) => e,
  )) as { code: number; stderr: string };
  expect(err.code).toBe(2);
  expect(err.stderr).toMatch(/no admin token/);
  // The warning comes before listening; 192.0.2.1 (TEST-NET) is no address of this machine, so nothing is bound.
  const failed = (await cli("serve", "--listen", "tcp://192.0.2.1:0").catch((e: unknown) => e)) as { code: number; stdout: string };
  expect(failed.code).toBe(2);
  expect(failed.stdout).toMatch(/warning: listening on tcp:\/\/192\.0\.2\.1:0 without --token-file: anyone who can reach it may use the broker/);
});
