/**
 * No message lost across reconnects, in Chromium (issue 26's "Done when";
 * docs/recovery.md): three pages in one room on two Node servers (child
 * processes) sharing one broker with group history. A sender posts 1,000
 * numbered messages while page A's socket is cut for 2 s (a proxy between it
 * and its server), page B's server is SIGKILLed and restarted, and the broker
 * is restarted once. Every page must end with all 1,000, and what its
 * connection delivered (live and replayed) must be strictly increasing with
 * no gap except right after a `recovered: false`, where the page's resync
 * path (the app's own store, here the test's list of what was sent) fills
 * it: 0 silent losses. Also (issue 27): when B's server is killed, B's
 * presence leaves the other pages' lists within the broker's grace.
 *
 * Again on Redis (a redis-server of the test's own, killed and started
 * again in place of the broker restart); there B's presence leaves within
 * the Redis layers' presenceTimeout and one sweep.
 *
 * Rounds: RESUME_ROUNDS per backend (default 2, what CI runs;
 * `RESUME_ROUNDS=20` for the full check, about 7 minutes per backend).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, Socket, type AddressInfo, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BrokerServer, createChannelLayer, type BundledChannelLayer, type LayerOptions } from "../../src/index.js";
import { sleep } from "../conformance/helpers.js";
import { OwnRedis } from "../redis/own-redis.js";
import { needs } from "../services.js";
import { nodeArgs } from "../children.js";

await needs("chromium", "redis-server");

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ROUNDS = Number(process.env.RESUME_ROUNDS ?? 2);
const MESSAGES = 1000;
const GRACE_MS = 2000;
/** The Redis layers' presence bound for this test (the default is 15 s). */
const PRESENCE_TIMEOUT_S = 3;
const SERVER = fileURLToPath(new URL("./fixtures/resume-server.ts", import.meta.url));
const BROKER_OPTIONS = {
  groupHistory: { "room.*": { size: 5000, ttl: 300 } },
  groupPresence: { "room.*": { events: true } },
  localGrace: GRACE_MS,
};

/** Where the servers' and the sender's layers meet, and how to restart it (losing what it kept). */
interface Backend {
  url: string;
  /** The layers' options (on Redis the sending layer records history, so every layer names it). */
  layerOptions: LayerOptions & Record<string, unknown>;
  /** How long after a server is SIGKILLed its pages leave the others' presence lists, at the most. */
  leaveBoundMs: number;
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function brokerBackend(): Promise<Backend> {
  let broker = new BrokerServer({ listen: "tcp://127.0.0.1:0", ...BROKER_OPTIONS });
  await broker.listen();
  const url = broker.addresses[0]!;
  return {
    url,
    layerOptions: {},
    leaveBoundMs: GRACE_MS + 3000,
    async restart() {
      await broker.close();
      broker = new BrokerServer({ listen: url, ...BROKER_OPTIONS });
      await broker.listen();
    },
    close: () => broker.close(),
  };
}

async function redisBackend(): Promise<Backend> {
  const redis = await OwnRedis.start();
  return {
    url: redis.url,
    layerOptions: { groupHistory: BROKER_OPTIONS.groupHistory, groupPresence: BROKER_OPTIONS.groupPresence, presenceTimeout: PRESENCE_TIMEOUT_S },
    // A dead process's entries end after presenceTimeout; another process's sweep, every third of it, sends the leave (docs/presence.md).
    leaveBoundMs: (PRESENCE_TIMEOUT_S * 4 / 3) * 1000 + 3000,
    async restart() {
      await redis.kill();
      await redis.start();
    },
    close: () => redis.kill(),
  };
}

let backend: Backend | undefined;
let browser: Browser;
const servers = new Set<ChildProcess>();
let sender: BundledChannelLayer | undefined;

/** Start a server process on `port` (0: any); resolves with it and its port. */
async function startServer(port: number): Promise<{ child: ChildProcess; port: number }> {
  const args = [...nodeArgs(SERVER), backend!.url, String(port), JSON.stringify(backend!.layerOptions)];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  servers.add(child);
  child.once("exit", () => servers.delete(child));
  let out = "";
  const listening = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`the server exited with ${code} before listening`)));
  });
  return { child, port: listening };
}

/** A TCP proxy to `port` whose connections can be cut, refusing new ones for a while. */
async function proxy(port: number): Promise<{ port: number; cut(ms: number): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let refuseUntil = 0;
  const server: Server = createServer((client) => {
    if (Date.now() < refuseUntil) return void client.destroy();
    const upstream = new Socket();
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    upstream.connect(port, "127.0.0.1", () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    cut(ms) {
      refuseUntil = Date.now() + ms;
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

/** Stop what one backend's run started. */
async function stopAll(): Promise<void> {
  for (const child of [...servers]) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
  await sender?.close();
  await backend?.close();
  sender = undefined;
  backend = undefined;
}

afterAll(async () => {
  await browser?.close();
  await stopAll();
});

/** What a page's script keeps, read back with `page.evaluate`. */
interface PageState {
  /** What its connection delivered, in order: message numbers, and "T"/"F" for each resume after the first. */
  log: Array<number | "T" | "F">;
  /** The app's list: what it was delivered plus what its resync path fetched. */
  have: number[];
  resyncs: number;
  /** Presence: member channel → user. */
  members: Record<string, string>;
}

/** Open a page on `port`, join `room` as `name`, and keep its state on `window.state`. */
async function openPage(context: BrowserContext, port: number, room: string, name: string, sent: number[]): Promise<Page> {
  const page = await context.newPage();
  // The app's own store, where its resync path reads what was said: here, the test's list of what was sent.
  await page.exposeFunction("fetchSent", () => [...sent]);
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.evaluate(`(async () => {
    const { connect, trackPresence } = await import("/browser.js");
    const have = new Set();
    const state = (window.state = { log: [], have: [], resyncs: 0, members: {} });
    const presence = trackPresence((members) => (state.members = Object.fromEntries([...members].map(([c, i]) => [c, i.user]))));
    window.connection = connect(${JSON.stringify(`/ws/room/${room}?name=${name}`)}, {
      minDelay: 100,
      maxDelay: 500,
      onMessage(m) {
        if (presence.handle(m)) return;
        state.log.push(m.n);
        have.add(m.n);
        state.have = [...have].sort((a, b) => a - b);
      },
      onResume(e) {
        if (!e.first) state.log.push(e.recovered ? "T" : "F");
      },
      async resync() {
        state.resyncs++;
        for (const n of await window.fetchSent()) have.add(n);
        state.have = [...have].sort((a, b) => a - b);
      },
    });
  })()`);
  await page.waitForFunction("window.connection.positions.size === 1");
  return page;
}

const stateOf = (page: Page): Promise<PageState> => page.evaluate("window.state") as Promise<PageState>;

/** Messages delivered out of order or twice, and gaps not preceded by a `recovered: false`. */
function check(log: PageState["log"]): { disorder: number; silentLosses: number; recoveredTrue: number; recoveredFalse: number } {
  let prev = 0;
  let told = false;
  let disorder = 0;
  let silentLosses = 0;
  for (const entry of log) {
    if (entry === "F") told = true;
    if (typeof entry !== "number") continue;
    if (entry <= prev) disorder++;
    else if (entry > prev + 1 && !told) silentLosses += entry - prev - 1;
    prev = Math.max(prev, entry);
    told = false;
  }
  return { disorder, silentLosses, recoveredTrue: log.filter((e) => e === "T").length, recoveredFalse: log.filter((e) => e === "F").length };
}

async function waitFor(what: string, ok: () => Promise<boolean> | boolean, ms: number): Promise<number> {
  const start = Date.now();
  while (!(await ok())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
  return Date.now() - start;
}

const backends: Array<[string, () => Promise<Backend>]> = [
  ["a broker", brokerBackend],
  ["Redis", redisBackend],
];

it.each(backends)(`on %s, ${ROUNDS} rounds: every page ends with all ${MESSAGES}, no silent loss, across a cut socket, a killed server and a backend restart`, { timeout: ROUNDS * 90_000 + 30_000 }, async (_name, make) => {
  const on = (backend = await make());
  const send = (sender = createChannelLayer(on.url, on.layerOptions));
  const one = await startServer(0);
  let two = await startServer(0);
  const cutter = await proxy(one.port);
  const report: string[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const room = `r${round}`;
      const sent: number[] = [];
      const context = await browser.newContext();
      try {
        const a = await openPage(context, cutter.port, room, "A", sent); // server one, through the proxy
        const b = await openPage(context, two.port, room, "B", sent); // server two
        const c = await openPage(context, one.port, room, "C", sent); // server one
        await waitFor("everyone to see three members", async () => (await Promise.all([a, b, c].map(stateOf))).every((s) => Object.keys(s.members).length === 3), 10_000);

        let leaveMs = -1;
        const disruptions: Array<Promise<void>> = [];
        const pending: Array<Promise<void>> = [];
        for (let n = 1; n <= MESSAGES; n++) {
          sent.push(n);
          // Not retried: a send that failed (the broker went away under it) is in the store, and every page was told recovered: false.
          pending.push(send.groupSend(`room.${room}`, { type: "num.message", n }).catch(() => {}));
          if (n === 100) cutter.cut(2000);
          if (n === 350) {
            disruptions.push(
              (async () => {
                const before = (await stateOf(c)).members;
                const bChannels = Object.keys(before).filter((ch) => before[ch] === "B");
                const port = two.port;
                two.child.kill("SIGKILL");
                const killedAt = Date.now();
                const gone = (async () => {
                  await waitFor("B's old presence to leave A's and C's lists", async () => {
                    const lists = await Promise.all([a, c].map(stateOf));
                    return lists.every((s) => bChannels.every((ch) => !(ch in s.members)));
                  }, on.leaveBoundMs + 10_000);
                  leaveMs = Date.now() - killedAt;
                })();
                await once(two.child, "exit");
                two = await startServer(port);
                await gone;
              })(),
            );
          }
          if (n === 650) {
            // Once B is back on its restarted server (so that its own resume was a real one), restart the broker (or Redis).
            await disruptions[0];
            await waitFor("B resumed", async () => (await stateOf(b)).log.includes("T") || (await stateOf(b)).log.includes("F"), 20_000);
            disruptions.push(on.restart());
          }
          await sleep(4);
        }
        await Promise.all(disruptions);
        await Promise.all(pending);
        const states = await (async () => {
          let last: PageState[] = [];
          await waitFor("every page to have all messages", async () => {
            last = await Promise.all([a, b, c].map(stateOf));
            return last.every((s) => s.have.length === MESSAGES);
          }, 30_000).catch((err: Error) => {
            throw new Error(`${err.message}: ${last.map((s, i) => `${"ABC"[i]} has ${s.have.length}, log tail ${JSON.stringify(s.log.slice(-8))}`).join("; ")}`);
          });
          return last;
        })();
        const checks = states.map((s) => check(s.log));
        report.push(`round ${round}: ${checks.map((k, i) => `${"ABC"[i]} T${k.recoveredTrue} F${k.recoveredFalse} resync${states[i]!.resyncs}`).join(", ")}; B left in ${leaveMs} ms`);
        for (const [i, s] of states.entries()) {
          const k = checks[i]!;
          expect(s.have, `page ${"ABC"[i]}`).toEqual(Array.from({ length: MESSAGES }, (_, j) => j + 1));
          expect(k.disorder, `page ${"ABC"[i]}: out of order or twice`).toBe(0);
          expect(k.silentLosses, `page ${"ABC"[i]}: silent losses`).toBe(0);
          // The backend's restart lost its history: every page was told so, and its resync path ran.
          expect(k.recoveredFalse, `page ${"ABC"[i]}`).toBeGreaterThanOrEqual(1);
          expect(s.resyncs, `page ${"ABC"[i]}`).toBeGreaterThanOrEqual(1);
        }
        // A's cut socket and B's killed server were caught up from history.
        expect(checks[0]!.recoveredTrue).toBeGreaterThanOrEqual(1);
        expect(checks[1]!.recoveredTrue).toBeGreaterThanOrEqual(1);
        // Issue 27: the killed server's page left the others' lists within the backend's bound (plus noticing and delivery).
        expect(leaveMs).toBeGreaterThan(0);
        expect(leaveMs).toBeLessThan(on.leaveBoundMs);
      } finally {
        await context.close();
      }
    }
  } finally {
    console.log(report.join("\n"));
    await cutter.close();
    await stopAll();
  }
});
