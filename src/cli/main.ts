#!/usr/bin/env node
/**
 * `channel-layers serve` runs a broker; `channel-layers stats URL` asks a
 * running one what it holds. One log line per lifecycle event, to stdout.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { ObserveServer } from "../observe/http.js";
import { renderStats, watchStats } from "../observe/terminal.js";
import { checkAllowedHosts } from "../http/host-check.js";
import { isLoopback, parseHttpAddress } from "../observe/http-address.js";
import { grantsAdmin, parseTokenFile, type TokenGrant } from "../protocol/auth.js";
import { DEFAULT_LISTEN, parseAddress } from "../transport/address.js";
import { RemoteChannelLayer } from "../transport/remote-layer.js";
import { BrokerServer } from "../transport/broker-server.js";
import { workerCommand, WORKER_USAGE } from "./worker-command.js";
import { gatewayCommand, GATEWAY_USAGE } from "./gateway-command.js";
import { cliMessage, onStop, positiveFlag } from "./words.js";
import { historyFlag } from "../options/history.js";
import { presenceFlag } from "../options/presence.js";

const SERVE_USAGE = `serve options (channel-layers serve [options]):
  --listen URL            tcp://host:port, tls://host:port or unix:///path.sock;
                          repeat to listen on several (default ${DEFAULT_LISTEN})
  --token-file FILE       require clients to present a token in FILE: one bare token
                          (it may do everything), or a line per token with its rights,
                          e.g. "web-token send=chat.* receive=chat.* group=room.*"
                          ("admin" for flush and other clients in stats); see docs/security.md
  --tls-cert FILE         certificate (PEM) for tls:// addresses
  --tls-key FILE          private key (PEM) for tls:// addresses
  --max-connections N     connections served at once (default 10000)
  --hello-timeout SECONDS how long a new connection has to say hello before it is
                          closed (default 5)
  --max-stored-bytes N    bytes of messages held in all, each counted with 192 bytes
                          for itself; past it sends are refused with ERR_BROKER_FULL
                          (default a quarter of the heap limit)
  --max-cache-bytes N     bytes the shared request cache may hold, each reply counted
                          with 300 bytes for itself, split among tokens (default 16777216)
  --capacity N            messages a channel may hold (default 100)
  --expiry SECONDS        how long a message may wait in a channel (default 60)
  --group-expiry SECONDS  how long a group membership lasts (default 86400)
  --max-message-bytes N   largest message accepted (default 1048576)
  --group-history PATTERN=SIZE,TTL
                          keep the last SIZE messages (for TTL seconds) of groups
                          matching PATTERN (a glob, e.g. "chat.*=1000,120") for
                          recovery after a reconnect; repeat for several (docs/recovery.md)
  --group-presence PATTERN
                          members of groups matching PATTERN (a glob, e.g. "room.*")
                          receive presence.join and presence.leave; repeat for
                          several (docs/presence.md)
  --http HOST:PORT        serve Prometheus metrics (/metrics), a live status page (/)
                          and JSON (/api/stats) over HTTP; off by default (a bare PORT
                          binds 127.0.0.1). With a token (an admin one from --token-file,
                          or --http-token-file) they need "Authorization: Bearer TOKEN";
                          without one, only a loopback address is allowed
  --http-token-file FILE  the token the HTTP side asks for (default: the broker's)
  --http-allowed-host NAME  answer HTTP requests whose Host is NAME (exact or
                          "*.example.com") besides localhost, 127.0.0.1 and [::1];
                          repeatable. On loopback other names get 403 (DNS rebinding)`;

const STATS_USAGE = `stats options (channel-layers stats [URL] [options]):
  --token-file FILE       the token the broker requires
  --watch                 redraw every interval until Ctrl-C
  --interval SECONDS      between redraws with --watch (default 1)
  --top N                 entries in each list (default 10, at most 100)`;

const USAGE = `usage: channel-layers <command> [options]

commands:
  serve [options]         run a broker
  stats [URL] [options]   print what a running broker holds (default ${DEFAULT_LISTEN})
  worker MODULE [options] run MODULE's handlers on a worker channel (Channels' runworker)
  gateway [options]       translate HTTP requests into requests to worker channels
  version                 the package version
  help                    this text
Each command's own options: channel-layers COMMAND --help.

${SERVE_USAGE}

${STATS_USAGE}

${WORKER_USAGE}

${GATEWAY_USAGE}
`;

const log = (line: string): void => console.log(`${new Date().toISOString()} ${line}`);

function fail(message: string): never {
  console.error(`channel-layers: ${message}`);
  process.exit(2);
}

/** The broker's token file: one bare token, or a line per token with its rights. */
function readTokens(file: string | undefined): TokenGrant[] | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    fail(`cannot read --token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return parseTokenFile(text, file);
  } catch (err) {
    fail((err as Error).message);
  }
}

/** An address other than loopback or a Unix socket: reachable from other machines. */
function exposed(listen: string): boolean {
  try {
    const a = parseAddress(listen);
    return a.kind !== "unix" && !isLoopback(a.host);
  } catch {
    return false; // BrokerServer reports the bad address
  }
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
      "hello-timeout": { type: "string" },
      "max-stored-bytes": { type: "string" },
      "max-cache-bytes": { type: "string" },
      "http-token-file": { type: "string" },
      "http-allowed-host": { type: "string", multiple: true },
      capacity: { type: "string" },
      expiry: { type: "string" },
      "group-expiry": { type: "string" },
      "max-message-bytes": { type: "string" },
      "group-history": { type: "string", multiple: true },
      "group-presence": { type: "string", multiple: true },
      http: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(SERVE_USAGE);
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
  const tokens = readTokens(values["token-file"]);
  if (tokens === undefined) {
    for (const url of listen.filter(exposed)) {
      log(`warning: listening on ${url} without --token-file: anyone who can reach it may use the broker`);
    }
  }
  try {
    const helloSeconds = positiveFlag(values["hello-timeout"], "--hello-timeout", { max: 3600 });
    server = new BrokerServer({
      listen,
      tokens,
      tls:
        cert !== undefined && key !== undefined
          ? { cert: readFlagFile(cert, "--tls-cert"), key: readFlagFile(key, "--tls-key") }
          : undefined,
      maxConnections: positiveFlag(values["max-connections"], "--max-connections", { integer: true }),
      helloTimeout: helloSeconds === undefined ? undefined : helloSeconds * 1000,
      maxStoredBytes: positiveFlag(values["max-stored-bytes"], "--max-stored-bytes", { integer: true }),
      maxCacheBytes: positiveFlag(values["max-cache-bytes"], "--max-cache-bytes", { integer: true }),
      capacity: positiveFlag(values.capacity, "--capacity", { integer: true, infinity: true }),
      expiry: positiveFlag(values.expiry, "--expiry"),
      groupExpiry: positiveFlag(values["group-expiry"], "--group-expiry"),
      maxMessageBytes: positiveFlag(values["max-message-bytes"], "--max-message-bytes", { integer: true }),
      groupHistory: historyFlag(values["group-history"]),
      groupPresence: presenceFlag(values["group-presence"]),
      log,
    });
    await server.listen();
    if (values.http !== undefined) {
      // Loaded only when asked for: prom-client takes a while to load.
      const { ObserveServer } = await import("../observe/http.js");
      // The HTTP side shows every client: an admin's token opens it, or its own.
      const httpToken = readToken(values["http-token-file"]);
      const httpTokens = httpToken !== undefined ? [httpToken] : (tokens ?? []).filter(grantsAdmin).map((t) => t.token);
      if (httpTokens.length === 0 && tokens !== undefined)
        fail("--http: the token file has no admin token: add one, or give --http-token-file");
      let address: { host: string } | undefined;
      try {
        address = parseHttpAddress(values.http);
      } catch {
        // ObserveServer reports it
      }
      if (httpTokens.length === 0 && address !== undefined && !isLoopback(address.host)) {
        fail(`--http ${values.http} is not loopback: give --token-file or --http-token-file, or use 127.0.0.1:PORT`);
      }
      const allowedHosts = checkAllowedHosts(values["http-allowed-host"], "--http-allowed-host");
      observe = new ObserveServer(server.broker, { listen: values.http, tokens: httpTokens, allowedHosts });
      const url = await observe.listen();
      const auth = httpTokens.length > 0 ? "bearer token required" : "no authentication: loopback only";
      log(`status page on ${url}/ and metrics on ${url}/metrics (${auth})`);
    }
  } catch (err) {
    fail((err as Error).message);
  }
  onStop((what) => {
    log(what);
    Promise.all([observe?.close(), server.close()]).then(
      () => {
        log("stopped");
        // Everything is released, so the process ends by itself; this only guards against a stuck peer.
        setTimeout(() => process.exit(0), 3000).unref();
      },
      (err: Error) => fail(err.message),
    );
  });
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
  if (values.help) return void console.log(STATS_USAGE);
  const url = positionals[0] ?? DEFAULT_LISTEN;
  const interval = positiveFlag(values.interval, "--interval") ?? 1;
  const top = positiveFlag(values.top, "--top", { integer: true }) ?? 10;
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
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
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
      console.log(
        rest.some((a) => a === "--help" || a === "-h") ? "usage: channel-layers version (prints the package version)" : version(),
      );
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
  // A flag the command does not know: say where its flags are listed.
  const code = (err as { code?: unknown }).code;
  const hint = typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_") ? ` (see channel-layers ${command} --help)` : "";
  fail(cliMessage(err, undefined) + hint);
}
