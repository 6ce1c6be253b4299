/**
 * The HTTP gateway's routes (docs/request.md): which method and path go to
 * which worker channel, how long a reply may be cached and waited for.
 */
import { compilePath, type CompiledPath } from "../consumer/routing.js";
import { assertChannelName, isProcessLocal } from "../names.js";

export interface GatewayRoute {
  /** An HTTP method ("GET", "POST", …) or "*" for any. */
  method: string;
  /** A path with `:name` parameters, as in serve()'s routes: "/thumbnails/:id". */
  path: string;
  /** The worker channel each request is sent to. */
  channel: string;
  /** Seconds an equal request is answered from the cache (sets Cache-Control and Age). Default 0: never. */
  cacheFor?: number;
  /** Milliseconds to wait for the worker's reply before answering 504. Default: the gateway's. */
  timeout?: number;
}

export interface CompiledRoute extends GatewayRoute {
  readonly compiled: CompiledPath;
}

const METHOD = /^(\*|[A-Z]+)$/;

export function compileRoute(route: GatewayRoute): CompiledRoute {
  const method = route.method.toUpperCase();
  if (!METHOD.test(method)) throw new TypeError(`gateway route method ${JSON.stringify(route.method)} is not an HTTP method`);
  assertChannelName(route.channel, "gateway route channel");
  if (isProcessLocal(route.channel)) {
    throw new TypeError(`gateway route channel "${route.channel}" is process-local: route to a worker channel`);
  }
  if (route.cacheFor !== undefined && !(route.cacheFor >= 0 && route.cacheFor < Infinity)) {
    throw new RangeError(`gateway route ${method} ${route.path}: cache must be a number of seconds ≥ 0, got ${route.cacheFor}`);
  }
  if (route.timeout !== undefined && !(route.timeout > 0)) {
    throw new RangeError(`gateway route ${method} ${route.path}: timeout must be a positive number of milliseconds, got ${route.timeout}`);
  }
  return { ...route, method, compiled: compilePath(route.path) };
}

/**
 * `--route "POST /thumbnails thumbnails.make cache=30 timeout=5"`: method,
 * path, channel, then optional `cache=SECONDS` and `timeout=SECONDS`.
 */
export function parseRoute(spec: string): GatewayRoute {
  const [method, path, channel, ...rest] = spec.trim().split(/\s+/);
  if (method === undefined || path === undefined || channel === undefined) {
    throw new TypeError(`--route "${spec}": expected "METHOD PATH CHANNEL [cache=SECONDS] [timeout=SECONDS]"`);
  }
  const route: GatewayRoute = { method, path, channel };
  for (const option of rest) {
    const [key, value = ""] = option.split("=", 2);
    const n = Number(value);
    if (value === "" || Number.isNaN(n)) throw new TypeError(`--route "${spec}": "${option}" needs a number, as in ${key}=30`);
    if (key === "cache") route.cacheFor = n;
    else if (key === "timeout") route.timeout = n * 1000;
    else throw new TypeError(`--route "${spec}": unknown option "${key}" (known: cache=SECONDS, timeout=SECONDS)`);
  }
  return route;
}
