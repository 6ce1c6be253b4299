/**
 * Importing the package for `memory://` loads neither ioredis nor ws: they
 * load when a Redis URL or `serve()` needs them (src/dependencies/load-on-use.ts). A fresh
 * Node process imports the package and reports every module it loaded both
 * ways a module can be: an ESM resolve hook sees `import`s, and `require.cache`
 * holds every CommonJS module (ioredis and ws are CommonJS, whether reached by
 * `import` or `require`). Each check is then shown to see the module once the
 * code that needs it runs, so the empty lists cannot come from a blind probe.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");

/** The hook runs on the loader's thread: it posts each resolved URL back through the port it is given. */
const HOOK = `let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  port.postMessage(r.url);
  return r;
}`;

const SCRIPT = `
import { register, createRequire } from "node:module";
import { MessageChannel } from "node:worker_threads";
import { createServer } from "node:http";
const require = createRequire(import.meta.url);
const resolved = [];
const { port1, port2 } = new MessageChannel();
port1.on("message", (url) => resolved.push(url));
port1.unref();
register("data:text/javascript," + encodeURIComponent(${JSON.stringify(HOOK)}), { data: { port: port2 }, transferList: [port2] });
const heavy = (name) => {
  const re = new RegExp("/node_modules/" + name + "/");
  return [...resolved.filter((u) => re.test(u)), ...Object.keys(require.cache).filter((k) => re.test(k))].length;
};
const settle = () => new Promise((r) => setTimeout(r, 100));
const report = {};
const api = await import("./src/index.ts");
const layer = api.createChannelLayer("memory://");
await layer.send("weight.check", { type: "t" });
await layer.receive("weight.check");
await layer.close();
await settle();
report.memory = { ioredis: heavy("ioredis"), ws: heavy("ws") };
const redis = api.createChannelLayer("redis://127.0.0.1:1/0");
await redis.close();
const server = createServer();
const service = api.serve({ server, layer: new api.InMemoryChannelLayer(), routes: [] });
await service.close();
await settle();
report.afterUse = { ioredis: heavy("ioredis"), ws: heavy("ws") };
console.log(JSON.stringify(report));
`;

it("import + memory:// loads neither ioredis nor ws; a redis:// layer and serve() load them", () => {
  const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", SCRIPT], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(child.stderr).toBe("");
  const report = JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, { ioredis: number; ws: number }>;
  expect(report.memory).toEqual({ ioredis: 0, ws: 0 });
  expect(report.afterUse!.ioredis).toBeGreaterThan(0);
  expect(report.afterUse!.ws).toBeGreaterThan(0);
}, 60_000);
