#!/usr/bin/env node
/**
 * `channel-layers serve` runs a broker; `channel-layers stats URL` asks a
 * running one what it holds. One log line per lifecycle event, to stdout.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { ObserveServer } from "./observe/http.js";
import { renderStats, watchStats } from "./observe/terminal.js";
import { DEFAULT_LISTEN } from "./remote/address.js";
import { RemoteChannelLayer } from "./remote/client.js";
import { BrokerServer } from "./remote/server.js";
import { workerCommand, WORKER_USAGE } from "./worker-command.js";
import { gatewayCommand, GATEWAY_USAGE } from "./gateway-command.js";
import { cliMessage } from "./cli-words.js";

const USAGE = `usage: channel-layers <command> [options]

commands:
  serve [options]         run a broker
  stats [URL] [options]   print what a running broker holds (default ${DEFAULT_LISTEN})
  worker MODULE [options] run MODULE's handlers on a worker channel (Channels' runworker)
  gateway [options]       translate HTTP requests into requests to worker channels
  version                 the package version
  help                    this text

serve options:
  --listen URL            tcp://host:port, tls://host:port or unix:///path.sock;
                          repeat to listen on several (default ${DEFAULT_LISTEN})
  --token-file FILE       require clients to present the token in FILE
  --tls-cert FILE         certificate (PEM) for tls:// addresses
  --tls-key FILE          private key (PEM) for tls:// addresses
  --max-connections N     connections served at once (default 10000)
  --capacity N            messages a channel may hold (default 100)
  --expiry SECONDS        how long a message may wait in a channel (default 60)
  --group-expiry SECONDS  how long a group membership lasts (default 86400)
  --max-message-bytes N   largest message accepted (default 1048576)
  --http HOST:PORT        serve Prometheus metrics (/metrics), a live status page (/)
                          and JSON (/api/stats) over HTTP; off by default. It has no
                          authentication: keep it on loopback (a bare PORT binds 127.0.0.1)

stats options:
  --token-file FILE       the token the broker requires
  --watch                 redraw every interval until Ctrl-C
  --interval SECONDS      between redraws with --watch (default 1)
  --top N                 entries in each list (default 10, at most 100)

${WORKER_USAGE}

${GATEWAY_USAGE}
`;

const log = (line: string): void => console.log(`${new Date().toISOString()} ${line}`);

function fail(message: string): never {
  console.error(`channel-layers: ${message}`);
  process.exit(2);
}

function number(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = value === "inf" || value === "Infinity" ? Infinity : Number(value);
  if (!(n > 0)) fail(`${what} must be a positive number, got "${value}"`);
  return n;
}

/** The contents of the file a flag names, or a one-line error naming the flag. */
function readFlagFile(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    fail(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function readToken(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    const token = readFileSync(file, "utf8").trim();
    if (token === "") fail(`--token-file ${file} is empty`);
    return token;
  } catch (err) {
    fail(`cannot read --token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      listen: { type: "string", multiple: true },
      "token-file": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "max-connections": { type: "string" },
      capacity: { type: "string" },
      expiry: { type: "string" },
      "group-expiry": { type: "string" },
      "max-message-bytes": { type: "string" },
      http: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(USAGE);
  let observe: ObserveServer | undefined;
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  const listen = values.listen ?? [DEFAULT_LISTEN];
  if (cert === undefined && key !== undefined) fail("--tls-key was given without --tls-cert: TLS needs both");
  if (cert !== undefined && key === undefined) fail("--tls-cert was given without --tls-key: TLS needs both");
  if (cert === undefined && listen.some((url) => url.startsWith("tls:"))) {
    fail("a tls:// --listen address needs --tls-cert FILE and --tls-key FILE");
  }
  let server: BrokerServer;
  try {
    server = new BrokerServer({
      listen,
      token: readToken(values["token-file"]),
      tls:
        cert !== undefined && key !== undefined
          ? { cert: readFlagFile(cert, "--tls-cert"), key: readFlagFile(key, "--tls-key") }
          : undefined,
      maxConnections: number(values["max-connections"], "--max-connections"),
      capacity: number(values.capacity, "--capacity"),
      expiry: number(values.expiry, "--expiry"),
      groupExpiry: number(values["group-expiry"], "--group-expiry"),
      maxMessageBytes: number(values["max-message-bytes"], "--max-message-bytes"),
      log,
    });
    await server.listen();
    if (values.http !== undefined) {
      // Loaded only when asked for: prom-client takes a while to load.
      const { ObserveServer } = await import("./observe/http.js");
      observe = new ObserveServer(server.broker, { listen: values.http });
      const url = await observe.listen();
      log(`status page on ${url}/ and metrics on ${url}/metrics (no authentication)`);
    }
  } catch (err) {
    fail((err as Error).message);
  }
  const stop = (signal: string): void => {
    log(`${signal} received`);
    Promise.all([observe?.close(), server.close()]).then(
      () => {
        log("stopped");
        // Everything is released, so the process ends by itself; this only guards against a stuck peer.
        setTimeout(() => process.exit(0), 3000).unref();
      },
      (err: Error) => fail(err.message),
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

async function stats(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "token-file": { type: "string" },
      watch: { type: "boolean" },
      interval: { type: "string" },
      top: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(USAGE);
  const url = positionals[0] ?? DEFAULT_LISTEN;
  const interval = number(values.interval, "--interval") ?? 1;
  const top = number(values.top, "--top") ?? 10;
  if (!Number.isInteger(top) || top > 100) fail(`--top must be an integer from 1 to 100, got "${values.top}"`);
  const layer = new RemoteChannelLayer(url, { token: readToken(values["token-file"]), connectTimeout: 3000 });
  if (values.watch) return watchStats(layer, { interval, top, out: process.stdout });
  try {
    process.stdout.write(renderStats(layer.url, await layer.details(top)));
  } catch (err) {
    console.error(`channel-layers: stats: ${cliMessage(err, values["token-file"])}`);
    process.exitCode = 1;
  } finally {
    await layer.close();
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

const [command = "help", ...rest] = process.argv.slice(2);
try {
  switch (command) {
    case "serve":
      await serve(rest);
      break;
    case "stats":
      await stats(rest);
      break;
    case "worker":
      await workerCommand(rest, DEFAULT_LISTEN, readToken, log);
      break;
    case "gateway":
      await gatewayCommand(rest, DEFAULT_LISTEN, readToken, log);
      break;
    case "version":
    case "--version":
      console.log(version());
      break;
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      break;
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`);
  }
} catch (err) {
  fail((err as Error).message);
}
