/**
 * What a test file needs from outside Node, said in its first lines:
 * `await needs("redis", "python")`. When a service is missing, a run by hand
 * skips the file with one line naming what to install; under `CI=true` the
 * file fails, since CI installs everything (.ci/run) and a skip there would
 * hide a broken machine. See docs/testing.md.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { connect } from "node:net";
import { delimiter, join } from "node:path";
import { TestRunner } from "vitest";

export type Service = "redis" | "redis-server" | "python" | "chromium";

const REDIS_URL = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379/9");
const PYTHON = process.env.CHANNELS_PYTHON ?? "/usr/bin/python3";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const wants: Record<Service, { what: string; install: string; present: () => Promise<boolean> | boolean }> = {
  redis: {
    what: `Redis on ${REDIS_URL.host}`,
    install: "apt-get install redis-server (or set REDIS_URL)",
    present: () => redisAnswers(REDIS_URL.hostname || "127.0.0.1", Number(REDIS_URL.port || 6379)),
  },
  "redis-server": {
    what: "the redis-server binary on PATH",
    install: "apt-get install redis-server",
    present: () => onPath("redis-server"),
  },
  python: {
    what: `${PYTHON} with channels, channels_redis, daphne and msgpack`,
    install: "apt-get install python3-django-channels python3-channels-redis python3-daphne python3-msgpack",
    present: () =>
      spawnSync(PYTHON, ["-c", "import channels.layers, channels_redis.core, daphne, msgpack"], { stdio: "ignore", timeout: 20_000 })
        .status === 0,
  },
  chromium: {
    what: `Chromium at ${CHROMIUM}`,
    install: "apt-get install chromium (or set CHROMIUM_PATH)",
    present: () => executable(CHROMIUM),
  },
};

/** Skips (by hand) or fails (CI=true) the calling test file unless every service is there. Call it at the top level of a test file. */
export async function needs(...services: Service[]): Promise<void> {
  const missing: Service[] = [];
  for (const s of services) if (!(await wants[s].present())) missing.push(s);
  if (missing.length === 0) return;
  const file = TestRunner.getCurrentSuite().file;
  const line = `${file.name} needs ${missing.map((s) => wants[s].what).join(" and ")}: ${missing.map((s) => wants[s].install).join("; ")}`;
  if (process.env.CI === "true") throw new Error(line);
  process.stderr.write(`skipped: ${line}\n`);
  // The whole file, hooks included: a beforeAll that connects would fail rather than skip.
  file.mode = "skip";
}

function redisAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (d) => done(d.toString().startsWith("+PONG") || d.toString().startsWith("-NOAUTH")));
  });
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => dir !== "" && executable(join(dir, name)));
}
