/**
 * The built package, as a user gets it: `npm pack`, install the tarball in a
 * scratch project, import it from ESM and typecheck against its declarations.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const run = (cmd: string, args: string[], cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

describe("the packed package", () => {
  let scratch: string;

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "channel-layers-pack-"));
    // `npm pack` builds dist/ first (the prepare script), as `npm publish` does.
    run("npm", ["pack", "--pack-destination", scratch], root);
    const tarball = readdirSync(scratch).find((f) => f.endsWith(".tgz"))!;
    writeFileSync(join(scratch, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
    // A TypeScript project on Node has @types/node; the package brings the rest of what its types need.
    run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(scratch, tarball), "@types/node@20"], scratch);
  }, 300_000); // build, pack and install: over 180 s of wall time measured under a full parallel test run

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("ships dist with type declarations and no tests", () => {
    const files = readdirSync(join(scratch, "node_modules/channel-layers/dist"));
    expect(files).toContain("index.js");
    expect(files).toContain("index.d.ts");
    expect(readdirSync(join(scratch, "node_modules/channel-layers"))).not.toContain("test");
  });

  it("ships every source file its source maps name, so stack traces point at files that exist", () => {
    const pkg = join(scratch, "node_modules/channel-layers");
    const maps = (readdirSync(join(pkg, "dist"), { recursive: true }) as string[]).filter((f) => f.endsWith(".js.map"));
    expect(maps.length).toBeGreaterThan(20);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(pkg, "dist", map), "utf8")) as { sources: string[] };
      for (const source of sources) expect(existsSync(join(pkg, "dist", dirname(map), source)), `${map} names ${source}`).toBe(true);
    }
  });

  it("can be require()d from CommonJS (Node 20.19+ loads ESM through the default condition)", () => {
    writeFileSync(
      join(scratch, "use.cjs"),
      `const { createChannelLayer } = require("channel-layers");
       const { ObserveServer } = require("channel-layers/observe");
       const { WebSocketCommunicator, describeChannelLayer } = require("channel-layers/testing");
       const { connect } = require("channel-layers/browser");
       let suite;
       try { describeChannelLayer("x", { make: () => layer }); } catch (err) { suite = err.message; }
       const layer = createChannelLayer("memory://");
       layer.send("c", { type: "hi" }).then(() => layer.receive("c")).then(async (m) => {
         await layer.close();
         console.log(JSON.stringify({ type: m.type, observe: typeof ObserveServer, testing: typeof WebSocketCommunicator, browser: typeof connect, suite }));
       });`,
    );
    expect(JSON.parse(run("node", ["use.cjs"], scratch))).toEqual({
      type: "hi",
      observe: "function",
      testing: "function",
      browser: "function",
      suite: expect.stringMatching(/^describeChannelLayer registers vitest tests, and vitest runs ES modules only/),
    });
  });

  it("imports cleanly from ESM and works", () => {
    writeFileSync(
      join(scratch, "use.mjs"),
      `import { createChannelLayer, ChannelFullError } from "channel-layers";
       const layer = createChannelLayer("memory://?capacity=1");
       await layer.send("greeting", { type: "hello", text: "from the tarball" });
       const m = await layer.receive("greeting");
       await layer.send("x", { type: "a" });
       const full = await layer.send("x", { type: "b" }).catch((e) => e instanceof ChannelFullError);
       await layer.close();
       console.log(JSON.stringify({ text: m.text, full }));`,
    );
    expect(JSON.parse(run("node", ["use.mjs"], scratch))).toEqual({ text: "from the tarball", full: true });
  });

  it("typechecks a consumer under strict TypeScript with NodeNext resolution", () => {
    writeFileSync(
      join(scratch, "use.ts"),
      `import { createChannelLayer, type ChannelLayer, type Message } from "channel-layers";
       const layer: ChannelLayer = createChannelLayer();
       import { WebSocketConsumer } from "channel-layers";
       const m: Message = { type: "chat.message", text: "hi", n: 1, big: 2n, bytes: new Uint8Array(1) };
       export class Echo extends WebSocketConsumer { override receive(data: string | Buffer): void { this.send(String(data)); } }
       export async function go(): Promise<string> { await layer.send("c", m); return (await layer.receive("c")).type; }
       import { WebSocketCommunicator, TestClock, type ChannelLayerSuiteOptions } from "channel-layers/testing";
       export const communicator = new WebSocketCommunicator({ layer, routes: [{ path: "/", consumer: Echo }] }, "/", { origin: "https://x.example" });
       export const clock = new TestClock();
       export const suite: ChannelLayerSuiteOptions = { make: () => layer, shared: false, capabilities: { trafficControl: "none" } };`,
    );
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2022",
          noEmit: true,
          types: ["node"],
        },
        files: ["use.ts"],
      }),
    );
    try {
      run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", scratch], scratch);
    } catch (err) {
      throw new Error(`the declarations do not typecheck for a consumer:\n${(err as { stdout?: string }).stdout ?? err}`);
    }
  }, 240_000); // tsc over the packed declarations: ~11 s of CPU, far more wall time on a loaded machine

  it("serves the status page and metrics from channel-layers/observe", () => {
    writeFileSync(
      join(scratch, "observe.mjs"),
      `import { BrokerServer } from "channel-layers";
       import { ObserveServer } from "channel-layers/observe";
       const server = new BrokerServer({ listen: "tcp://127.0.0.1:0" });
       await server.listen();
       const observe = new ObserveServer(server.broker);
       const url = await observe.listen();
       const page = await (await fetch(url + "/")).text();
       const metrics = await (await fetch(url + "/metrics")).text();
       await observe.close();
       await server.close();
       console.log(JSON.stringify({ page: page.includes("<canvas"), metrics: metrics.includes("channel_layers_messages 0") }));`,
    );
    expect(JSON.parse(run("node", ["observe.mjs"], scratch))).toEqual({ page: true, metrics: true });
  });

  it("channel-layers/testing tests a consumer under plain node, with no vitest installed", () => {
    expect(existsSync(join(scratch, "node_modules/vitest"))).toBe(false);
    writeFileSync(
      join(scratch, "communicator.mjs"),
      `import { InMemoryChannelLayer, JsonWebSocketConsumer } from "channel-layers";
       import { WebSocketCommunicator } from "channel-layers/testing";
       class Echo extends JsonWebSocketConsumer { receiveJson(content) { this.sendJson({ echo: content, room: this.scope.params.room }); } }
       const layer = new InMemoryChannelLayer();
       const app = { layer, routes: [{ path: "/ws/:room", consumer: Echo }] };
       const c = new WebSocketCommunicator(app, "/ws/lobby");
       const connected = await c.connect();
       c.sendJson({ hi: 1 });
       const reply = await c.receiveJson();
       const nothing = await c.receiveNothing(20);
       await c.disconnect();
       const missing = await new WebSocketCommunicator(app, "/nowhere").connect();
       await layer.close();
       console.log(JSON.stringify({ connected, reply, nothing, missing }));`,
    );
    expect(JSON.parse(run("node", ["communicator.mjs"], scratch))).toEqual({
      connected: { accepted: true },
      reply: { echo: { hi: 1 }, room: "lobby" },
      nothing: true,
      missing: { accepted: false, status: 404 },
    });
  });

  it("a user's room app from the tarball, in ESM and CommonJS: everyone but the sender, an ack, and the consumer's error raised in the test", () => {
    const body = `
      class Room extends JsonWebSocketConsumer {
        async connect() { this.accept(); await this.groupAdd("room"); }
        async receiveJson(content) {
          if (content.boom) throw new Error("kaboom");
          await this.groupSendOthers("room", { type: "room.said", text: content.text });
          return { ok: true };
        }
        room_said(m) { this.sendJson({ heard: m.text }); }
      }
      async function main() {
        const layer = new InMemoryChannelLayer();
        const app = { layer, routes: [{ path: "/", consumer: Room }] };
        const [ann, bob] = [new WebSocketCommunicator(app, "/"), new WebSocketCommunicator(app, "/")];
        await ann.connect();
        await bob.connect();
        const ack = await ann.sendJsonWithAck({ text: "hi" });
        const heard = await bob.receiveJson();
        const annHeardNothing = await ann.receiveNothing();
        ann.sendJson({ boom: true });
        const raised = await ann.receiveJson().then(() => "nothing raised", (e) => e.message);
        const [a, b] = [await layer.newChannel(), await layer.newChannel()];
        await layer.groupAdd("g", a);
        await layer.groupAdd("g", b);
        await layer.groupSend("g", { type: "not-for-a" }, { except: a });
        const toB = (await layer.receive(b)).type;
        const toA = await Promise.race([layer.receive(a).then((m) => m.type), new Promise((r) => setTimeout(() => r("nothing"), 50))]);
        await ann.disconnect();
        await bob.disconnect();
        await layer.close();
        console.log(JSON.stringify({ ack, heard, annHeardNothing, raised, toB, toA }));
      }`;
    writeFileSync(
      join(scratch, "room.mjs"),
      `import { InMemoryChannelLayer, JsonWebSocketConsumer } from "channel-layers";
       import { WebSocketCommunicator } from "channel-layers/testing";
       ${body}
       await main();`,
    );
    writeFileSync(
      join(scratch, "room.cjs"),
      `const { InMemoryChannelLayer, JsonWebSocketConsumer } = require("channel-layers");
       const { WebSocketCommunicator } = require("channel-layers/testing");
       ${body}
       main();`,
    );
    const expected = { ack: { ok: true }, heard: { heard: "hi" }, annHeardNothing: true, raised: "kaboom", toB: "not-for-a", toA: "nothing" };
    expect(JSON.parse(run("node", ["room.mjs"], scratch))).toEqual(expected);
    expect(JSON.parse(run("node", ["room.cjs"], scratch))).toEqual(expected);
  });

  it("runs a user's vitest file that tests a chat consumer with WebSocketCommunicator", () => {
    linkVitest();
    writeFileSync(
      join(scratch, "chat.test.mjs"),
      `import { afterAll, expect, it } from "vitest";
       import { InMemoryChannelLayer, JsonWebSocketConsumer } from "channel-layers";
       import { WebSocketCommunicator } from "channel-layers/testing";
       class Chat extends JsonWebSocketConsumer {
         connect() {
           this.groups = ["room-" + this.scope.params.room];
           this.accept();
           return this.groupAdd(this.groups[0]);
         }
         receiveJson(content) { return this.layer.groupSend(this.groups[0], { type: "chat.message", text: content.text }); }
         chat_message(m) { this.sendJson({ text: m.text }); }
       }
       const layer = new InMemoryChannelLayer();
       afterAll(() => layer.close());
       const app = { layer, allowedOrigins: ["https://chat.example"], routes: [{ path: "/chat/:room", consumer: Chat }] };
       const join = (room, origin = "https://chat.example") => new WebSocketCommunicator(app, "/chat/" + room, { origin });
       it("two people in a room hear each other; another room hears nothing", async () => {
         const [ann, bob, cat] = [join("a"), join("a"), join("b")];
         for (const c of [ann, bob, cat]) expect(await c.connect()).toEqual({ accepted: true });
         ann.sendJson({ text: "hi bob" });
         expect(await bob.receiveJson()).toEqual({ text: "hi bob" });
         expect(await ann.receiveJson()).toEqual({ text: "hi bob" });
         bob.sendJson({ text: "hi ann" });
         expect(await ann.receiveJson()).toEqual({ text: "hi ann" });
         expect(await bob.receiveJson()).toEqual({ text: "hi ann" });
         expect(await cat.receiveNothing()).toBe(true);
         for (const c of [ann, bob, cat]) await c.disconnect();
       });
       it("refuses another origin", async () => {
         expect(await join("a", "https://evil.example").connect()).toEqual({ accepted: false, status: 403 });
       });`,
    );
    expect(vitest("chat.test.mjs").out).toMatch(/Tests\s+2 passed \(2\)/);
  }, 120_000);

  it("runs describeChannelLayer on a third-party layer: a wrapper of the memory layer passes, one that drops every 10th send fails", () => {
    linkVitest();
    writeFileSync(
      join(scratch, "wrapped.mjs"),
      `import { InMemoryChannelLayer } from "channel-layers";
       /** A third-party layer: every call goes to an in-memory layer, except every dropEvery-th send, which it loses. */
       export class Wrapped {
         constructor(options, dropEvery = 0) { this.inner = new InMemoryChannelLayer(options); this.dropEvery = dropEvery; this.sends = 0; }
         get extensions() { return this.inner.extensions; }
         send(channel, message, options) {
           if (this.dropEvery > 0 && ++this.sends % this.dropEvery === 0) return Promise.resolve();
           return this.inner.send(channel, message, options);
         }
         receive(channel, options) { return this.inner.receive(channel, options); }
         messages(channel, options) { return this.inner.messages(channel, options); }
         newChannel(prefix) { return this.inner.newChannel(prefix); }
         groupAdd(group, channel) { return this.inner.groupAdd(group, channel); }
         groupDiscard(group, channel) { return this.inner.groupDiscard(group, channel); }
         groupSend(group, message, options) { return this.inner.groupSend(group, message, options); }
         flush() { return this.inner.flush(); }
         groupHistory(group, options) { return this.inner.groupHistory(group, options); }
         close() { return this.inner.close(); }
       }`,
    );
    writeFileSync(
      join(scratch, "wrapped.test.mjs"),
      `import { describeChannelLayer } from "channel-layers/testing";
       import { Wrapped } from "./wrapped.mjs";
       describeChannelLayer("wrapped memory", { make: (options) => new Wrapped(options), capabilities: { presence: "this wrapper passes no presence on" } });`,
    );
    writeFileSync(
      join(scratch, "lossy.test.mjs"),
      `import { describeChannelLayer } from "channel-layers/testing";
       import { Wrapped } from "./wrapped.mjs";
       describeChannelLayer("lossy memory", { make: (options) => new Wrapped(options, 10), capabilities: { presence: "this wrapper passes no presence on" } });`,
    );
    const good = vitest("wrapped.test.mjs");
    expect(
      good.ok,
      good.out
        .split("\n")
        .filter((l) => /×|FAIL|Error/.test(l))
        .join("\n"),
    ).toBe(true);
    expect(good.out).toMatch(/Tests\s+\d+ passed/);
    const lossy = vitest("lossy.test.mjs", "--bail=1"); // one failure is the verdict; the rest would wait out their timeouts
    expect(lossy.ok).toBe(false);
    expect(lossy.out).toMatch(/Tests\s+\d+ failed/);
    expect(lossy.out).toMatch(/FAIL .*lossy memory/);
  }, 240_000);

  /** The user's own vitest: this project's, linked in as an app would have installed it. */
  function linkVitest(): void {
    if (!existsSync(join(scratch, "node_modules/vitest")))
      symlinkSync(join(root, "node_modules/vitest"), join(scratch, "node_modules/vitest"), "dir");
  }

  /** `vitest run file` in the scratch project: whether it passed, and its output without colours. */
  function vitest(file: string, ...args: string[]): { ok: boolean; out: string } {
    // eslint-disable-next-line no-control-regex -- ANSI colour codes start with ESC
    const plain = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, "");
    try {
      return {
        ok: true,
        out: plain(run(process.execPath, [join(scratch, "node_modules/vitest/vitest.mjs"), "run", file, ...args], scratch)),
      };
    } catch (err) {
      const { stdout = "", stderr = "" } = err as { stdout?: string; stderr?: string };
      return { ok: false, out: plain(stdout + stderr) };
    }
  }

  it("the build leaves dist/cli/main.js executable, so npx channel-layers works in a clone after a rebuild", () => {
    expect(statSync(join(root, "dist/cli/main.js")).mode & 0o111).toBe(0o111);
    expect(run(join(root, "dist/cli/main.js"), ["version"], root).trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("installs the channel-layers command", () => {
    expect(run(join(scratch, "node_modules/.bin/channel-layers"), ["--help"], scratch)).toMatch(/usage: channel-layers/);
  });

  // Node versions that strip types themselves load the module; the hint is for those that do not.
  it.skipIf((process.features as { typescript?: unknown }).typescript)("a .ts worker module gets a one-line hint, not a stack", () => {
    writeFileSync(join(scratch, "handlers.ts"), `export const channel: string = "jobs";\nexport default { "job.run": async () => {} };\n`);
    const bin = join(scratch, "node_modules/.bin/channel-layers");
    const result = spawnSync(bin, ["worker", "handlers.ts"], { cwd: scratch, encoding: "utf8" });
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/Node does not run TypeScript by itself; run it through tsx \(NODE_OPTIONS="--import tsx"/);
  });
});

/** Processes whose command line contains `marker`, from /proc (Linux), other than this one. */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(marker)) found.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/**
 * Runs `command args` in the repository, waits for `ready` in its output, sends
 * SIGTERM to the process it spawned (npm, as a terminal or a supervisor would)
 * and checks that no process whose command line holds `marker` is left.
 */
// Each test allows 180 s: the start alone may wait 150 s for its ready line (npx and npm start
// took over 60 s in a CI run on a loaded machine).
async function sigtermLeavesNothing(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  marker: string,
): Promise<() => string> {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  try {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    await vi.waitFor(() => expect(out).toMatch(ready), { timeout: 150_000, interval: 100 });
    expect(processesWith(marker).length).toBeGreaterThan(0);
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
    child.kill("SIGTERM");
    await exited;
    await vi.waitFor(() => expect(processesWith(marker)).toEqual([]), { timeout: 5_000, interval: 50 });
    return () => out;
  } finally {
    for (const pid of processesWith(marker)) process.kill(pid, "SIGKILL");
  }
}

describe("SIGTERM to what npm started", () => {
  it("npm start: stops the broker it started, no process left behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "channel-layers-start-"));
    const socket = join(dir, "broker.sock");
    try {
      const out = await sigtermLeavesNothing("npm", ["start", "--", "--listen", `unix://${socket}`], {}, /listening on unix:/, socket);
      expect(out()).toMatch(/SIGTERM received/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it("npm run demo: the chat server stops, so the next demo can take the port", async () => {
    // An argument the demo ignores marks its processes apart from other tests' demos; PORT=0 takes a free port.
    const marker = `--marker-${process.pid}-${Date.now()}`;
    await sigtermLeavesNothing("npm", ["run", "demo", "--", marker], { PORT: "0" }, /chat demo on http:/, marker);
  }, 180_000);

  it("npx channel-layers serve: the broker stops although the shell npx runs it through does not pass the signal on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "channel-layers-npx-"));
    const socket = join(dir, "broker.sock");
    try {
      const out = await sigtermLeavesNothing(
        "npx",
        ["channel-layers", "serve", "--listen", `unix://${socket}`],
        // npx links this clone in and would run its prepare script (a full build) each time; the clone is built already.
        { npm_config_ignore_scripts: "true" },
        /listening on unix:/,
        socket,
      );
      await vi.waitFor(() => expect(out()).toMatch(/the process npm started it through exited[\s\S]*stopped/), {
        timeout: 5_000,
        interval: 50,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
