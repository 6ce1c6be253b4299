/**
 * The built package, as a user gets it: `npm pack`, install the tarball in a
 * scratch project, import it from ESM and typecheck against its declarations.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const run = (cmd: string, args: string[], cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

describe("the packed package", () => {
  let scratch: string;

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "channel-layers-pack-"));
    run("npm", ["run", "build"], root);
    run("npm", ["pack", "--pack-destination", scratch], root);
    const tarball = readdirSync(scratch).find((f) => f.endsWith(".tgz"))!;
    writeFileSync(join(scratch, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
    // A TypeScript project on Node has @types/node; the package brings the rest of what its types need.
    run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(scratch, tarball), "@types/node@20"], scratch);
  }, 180_000);

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("ships dist with type declarations and no sources or tests", () => {
    const files = readdirSync(join(scratch, "node_modules/channel-layers/dist"));
    expect(files).toContain("index.js");
    expect(files).toContain("index.d.ts");
    expect(readdirSync(join(scratch, "node_modules/channel-layers"))).not.toContain("test");
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
       export async function go(): Promise<string> { await layer.send("c", m); return (await layer.receive("c")).type; }`,
    );
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { strict: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", noEmit: true, types: ["node"] }, files: ["use.ts"] }),
    );
    try {
      run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", scratch], scratch);
    } catch (err) {
      throw new Error(`the declarations do not typecheck for a consumer:\n${(err as { stdout?: string }).stdout ?? err}`);
    }
  }, 120_000); // tsc over the packed declarations: ~11 s of CPU, far more wall time on a loaded machine

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

  it("installs the channel-layers command", () => {
    expect(run(join(scratch, "node_modules/.bin/channel-layers"), ["--help"], scratch)).toMatch(/usage: channel-layers/);
  });
});
