/**
 * `channel-layers gateway`: the HTTP gateway from the command line
 * (docs/request.md). SIGTERM or SIGINT stops accepting, lets answers in
 * flight finish, closes the layer and exits 0.
 */
import { parseArgs } from "node:util";
import { createGateway } from "../gateway/gateway.js";
import { parseRoute } from "../gateway/routes.js";
import { onStop, positiveFlag } from "./words.js";
import { checkAllowedHosts } from "../http/host-check.js";
import { createChannelLayer } from "../url.js";

export const GATEWAY_USAGE = `gateway options (channel-layers gateway --route "METHOD PATH CHANNEL" [options]):
  --listen URL            http://host:port to serve (default http://127.0.0.1:8080)
  --layer URL             the channel layer the workers listen on
                          (default $CHANNEL_LAYER_URL, else the local broker)
  --route "METHOD PATH CHANNEL [cache=SECONDS] [timeout=SECONDS]"
                          send METHOD PATH (":name" parameters allowed) to CHANNEL;
                          cache=SECONDS answers equal requests from the cache; repeatable
  --timeout SECONDS       how long to wait for a worker's reply (default 30; then 504)
  --max-body-bytes N      largest request body (default 1048576; then 413)
  --allowed-origin ORIGIN answer pages on ORIGIN (exact, "*.example.com" or "*");
                          repeatable; default: only pages on the gateway's own host
  --allowed-host NAME     answer requests whose Host is NAME (exact or "*.example.com")
                          besides localhost, 127.0.0.1 and [::1]; repeatable. Needed
                          behind a proxy that keeps the public Host on a loopback gateway
  --token-file FILE       HTTP clients must send "Authorization: Bearer <token in FILE>";
                          required when --listen is not a loopback address
  --layer-token-file FILE the token the broker requires`;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

export async function gatewayCommand(
  args: string[],
  defaultLayer: string,
  readToken: (file: string | undefined) => string | undefined,
  log: (line: string) => void,
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      listen: { type: "string" },
      layer: { type: "string" },
      route: { type: "string", multiple: true },
      timeout: { type: "string" },
      "max-body-bytes": { type: "string" },
      "token-file": { type: "string" },
      "layer-token-file": { type: "string" },
      "allowed-origin": { type: "string", multiple: true },
      "allowed-host": { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(GATEWAY_USAGE);
  if (!values.route?.length) throw new Error(`gateway needs at least one --route "METHOD PATH CHANNEL"\n\n${GATEWAY_USAGE}`);
  const routes = values.route.map(parseRoute);
  let listen: URL;
  try {
    listen = new URL(values.listen ?? "http://127.0.0.1:8080");
  } catch {
    throw new Error(`--listen ${JSON.stringify(values.listen)} is not a URL; expected http://host:port`);
  }
  if (listen.protocol !== "http:") throw new Error(`--listen must be an http:// URL, got ${listen.href}`);
  const token = readToken(values["token-file"]);
  if (token === undefined && !LOOPBACK.test(listen.hostname)) {
    throw new Error(`--listen ${listen.host} is not a loopback address: pass --token-file so that only your clients get through`);
  }
  const url = values.layer ?? process.env.CHANNEL_LAYER_URL ?? defaultLayer;
  const layerToken = readToken(values["layer-token-file"]);
  const layer = createChannelLayer(url, layerToken === undefined ? {} : { token: layerToken });
  const timeoutSeconds = positiveFlag(values.timeout, "--timeout");
  const gateway = createGateway({
    layer,
    routes,
    token,
    timeout: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000,
    maxBodyBytes: positiveFlag(values["max-body-bytes"], "--max-body-bytes", { integer: true }),
    allowedOrigins: values["allowed-origin"]?.includes("*") ? "*" : values["allowed-origin"],
    allowedHosts: checkAllowedHosts(values["allowed-host"], "--allowed-host"),
  });
  const base = await gateway.listen(Number(listen.port || 80), listen.hostname.replace(/^\[|\]$/g, ""));
  for (const route of routes) log(`${route.method} ${base}${route.path} -> ${route.channel}${route.cacheFor ? ` (cached ${route.cacheFor} s)` : ""}`);
  await new Promise<void>((done) => {
    onStop((what) => {
      log(`${what}: finishing answers in flight`);
      void gateway.close().then(() => layer.close()).then(done);
    });
  });
  log(`stopped after ${gateway.counters.requests} requests`);
}
