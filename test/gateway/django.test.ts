/**
 * Django as a worker (docs/request.md): a real Django management command,
 * on channels_redis, answers the Node gateway's requests over a real Redis.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../../src/index.js";
import { cleanPrefix, makeLayer, REDIS_URL, testPrefix } from "../redis/helpers.js";
import { PYTHON } from "../redis/python-peer.js";
import { needs } from "../services.js";

await needs("redis", "python");

const EXAMPLE = fileURLToPath(new URL("../../examples/gateway-django/", import.meta.url));
const prefix = testPrefix();
const channel = "thumbnails.make";
let django: ChildProcess;
let gateway: Gateway;
let base: string;
const layer = makeLayer(prefix);

beforeAll(async () => {
  django = spawn(PYTHON, ["manage.py", "serve_route", channel], {
    cwd: EXAMPLE,
    env: { ...process.env, REDIS_URL, CHANNEL_PREFIX: prefix, PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  django.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    django.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("serving") && resolve());
    django.once("exit", (code) => reject(new Error(`the Django worker exited with ${code}: ${stderr}`)));
  });
  gateway = createGateway({ layer, routes: [{ method: "POST", path: "/thumbnails/:id", channel, timeout: 5000 }] });
  base = await gateway.listen();
});

afterAll(async () => {
  django?.kill("SIGKILL");
  await gateway?.close();
  await layer.close();
  await cleanPrefix(prefix);
});

describe("the Node gateway in front of a Django worker over Redis", () => {
  it("answers with what the Django command replied", async () => {
    const res = await fetch(`${base}/thumbnails/7?size=64`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ size: 64, name: "cat.png" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-served-by")).toBe("django");
    expect(await res.json()).toEqual({ path: "/thumbnails/7", params: { id: "7" }, echo: { size: 64, name: "cat.png" } });
  });

  it("carries the Django view's own error status", async () => {
    const res = await fetch(`${base}/thumbnails/7`, { method: "POST", headers: { "content-type": "application/json" }, body: "[1]" });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "send a JSON object" });
  });
});
