/**
 * SPEC §5 on Redis: a PRIVATE redis-server (its own free port, no
 * persistence, never the shared 6379) is SIGKILLed and started again, empty.
 * The member's layer must notice that Redis lost its memberships, add them
 * again and say so.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { RedisChannelLayer } from "../../src/redis/layer.js";
import { sleep } from "../conformance/helpers.js";
import { groupSendsArrive, watch } from "./helpers.js";
import { needs } from "../services.js";
import { waitFor } from "../wait.js";

await needs("redis-server");

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("Ready to accept connections")) resolve();
    });
  });
  child.removeAllListeners("exit");
  child.stdout!.resume();
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("a private Redis SIGKILLed and restarted empty", () => {
  it("the member is in its group again within 5 s; state went ready → reconnecting → ready; one gap", { timeout: 30_000 }, async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    cleanups.push(() => kill(redis));
    const options = { hosts: [`redis://127.0.0.1:${port}`], groupExpiry: 3600 };
    const member = new RedisChannelLayer(options);
    const sender = new RedisChannelLayer(options);
    cleanups.push(() => member.close(), () => sender.close());
    const seen = watch(member);
    const me = await member.newChannel();
    await member.groupAdd("room", me);
    await member.groupAdd("left", me);
    await member.groupDiscard("left", me);
    await groupSendsArrive(sender, member, "room", me, 2000);
    await waitFor("ready", () => member.state === "ready", { timeout: 2000 });

    await kill(redis);
    await waitFor("reconnecting", () => member.state === "reconnecting", { timeout: 5000 });
    await sleep(300);
    redis = await startRedis(port);

    const took = await groupSendsArrive(sender, member, "room", me, 5000);
    await waitFor("gap", () => seen.gaps.length > 0, { timeout: 5000 });
    expect(took).toBeLessThan(5000);
    expect(seen.states).toEqual(["connecting", "ready", "reconnecting", "ready"]);
    expect(seen.gaps.map((g) => g.reason)).toEqual(["redis-restarted"]);

    // Restored with the score it was added with, so it keeps the expiry it had left; "left" stays left.
    const probe = sender["shards"][0]!.commands;
    const [, added] = await probe.zrange("asgi:group:room", 0, -1, "WITHSCORES");
    expect(Number(added)).toBeLessThan(Date.now() / 1000 - 0.3);
    expect(await probe.exists("asgi:group:left")).toBe(0);
  });
});
