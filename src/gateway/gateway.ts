/**
 * The HTTP gateway (docs/request.md): protocol translation in front of
 * workers. Each HTTP request becomes an `http.request` message, sent with
 * `request()` to its route's worker channel; the worker's reply
 * `{ status, headers, body }` becomes the response. Node or Django workers
 * alike: they only see channel messages.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ChannelLayer, Message, MessageValue } from "../layer.js";
import { positiveOption } from "../options/positive-option.js";
import { requesterOf, DEFAULT_REQUEST_TIMEOUT_MS } from "../request/request.js";
import { checkAllowedOrigins, originAllowed, type AllowedOrigins } from "../consumer/origins.js";
import { Admission, SERVER_DEADLINES, type AdmissionCounters } from "../http/admission.js";
import { boundToLoopback, checkAllowedHosts, hostAllowed, hostRefusal } from "../http/host-check.js";
import { compileRoute, type CompiledRoute, type GatewayRoute } from "./routes.js";
import { httpStatusOf, replyToResponse, storableReply, type HttpAnswer } from "./responses.js";

export interface GatewayOptions {
  layer: ChannelLayer;
  routes: GatewayRoute[];
  /** Largest request body accepted, in bytes; larger ones get 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Milliseconds to wait for a worker's reply (504 after). Default 30,000; a route may set its own. */
  timeout?: number;
  /** When set, every request must carry `Authorization: Bearer <token>` (401 otherwise). */
  token?: string;
  /**
   * Connections served at once. Default 1024. Past it a new connection takes
   * the place of one not being answered (still sending its request, or idle),
   * from the address holding the most; with none, its request is answered 503
   * (docs/security.md#slow-and-many-http-clients).
   */
  maxConnections?: number;
  /**
   * Web pages whose requests (by their Origin header) the gateway answers, as
   * serve()'s `allowedOrigins`: exact origins, `*.example.com` patterns, or
   * "*". Default: the request's own host. A request without Origin (no
   * browser page) is not checked; others get 403 before reaching a worker.
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * Host names the gateway answers to besides localhost, 127.0.0.1 and [::1]
   * (exact, or "*.example.com"). Bound to loopback, it answers only those
   * names (a DNS-rebinding page's `Host: evil.example` gets 403); bound
   * elsewhere, any Host unless names are given here.
   */
  allowedHosts?: readonly string[];
}

export interface GatewayCounters {
  requests: number;
  /** Connections closed for newcomers, requests refused with 503 because every place was busy, connections closed unread. */
  connections: AdmissionCounters;
  /** Responses by status class: "2xx", "4xx", "5xx"… */
  responses: Record<string, number>;
}

export interface Gateway {
  readonly server: Server;
  readonly counters: GatewayCounters;
  /** Listen on `host:port` (port 0 picks one); resolves with the gateway's base URL. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/** Headers a cached route forwards: its reply may depend on nothing else (as a shared HTTP cache without Vary). */
const CACHED_ROUTE_HEADERS = ["accept", "content-type"];
/** Never forwarded to workers: the gateway's own credentials and the caller's. */
const PRIVATE_HEADERS = new Set(["authorization", "cookie", "proxy-authorization"]);

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

export function createGateway(options: GatewayOptions): Gateway {
  const routes = options.routes.map(compileRoute);
  if (routes.length === 0) throw new TypeError("the gateway needs at least one route");
  const maxBodyBytes = positiveOption(options.maxBodyBytes, "maxBodyBytes", 1024 * 1024, true);
  const timeout = options.timeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const tokenDigest = options.token === undefined ? undefined : digest(options.token);
  const allowedOrigins = checkAllowedOrigins(options.allowedOrigins, "createGateway allowedOrigins");
  const allowedHosts = checkAllowedHosts(options.allowedHosts, "createGateway allowedHosts");
  let loopbackBound = false;
  const requester = requesterOf(options.layer);
  const maxConnections = positiveOption(options.maxConnections, "maxConnections", 1024, true);

  const authorized = (req: IncomingMessage): boolean => {
    if (tokenDigest === undefined) return true;
    const header = req.headers.authorization ?? "";
    return header.startsWith("Bearer ") && timingSafeEqual(digest(header.slice(7)), tokenDigest);
  };

  const send = (res: ServerResponse, answer: HttpAnswer): void => {
    counters.responses[`${Math.floor(answer.status / 100)}xx`] = (counters.responses[`${Math.floor(answer.status / 100)}xx`] ?? 0) + 1;
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  };
  const problem = (status: number, error: string, headers: Record<string, string> = {}): HttpAnswer => ({
    status,
    headers: { "content-type": "application/json", ...headers },
    body: Buffer.from(JSON.stringify({ error })),
  });

  const route = (method: string, pathname: string): HttpAnswer | { route: CompiledRoute; params: Record<string, string> } => {
    const allowed: string[] = [];
    for (const candidate of routes) {
      const params = candidate.compiled.match(pathname);
      if (params === undefined) continue;
      if (candidate.method === "*" || candidate.method === method) return { route: candidate, params };
      allowed.push(candidate.method);
    }
    if (allowed.length > 0) return problem(405, `${method} is not routed for ${pathname}`, { allow: allowed.join(", ") });
    return problem(404, `no route for ${pathname}`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    counters.requests++;
    if (!admission.admit(req)) {
      const full = `the gateway is serving its ${maxConnections} connections, each waiting for a worker: try again`;
      return send(res, problem(503, full, { "retry-after": "1", connection: "close" }));
    }
    if (!hostAllowed(req, loopbackBound, allowedHosts)) return send(res, problem(403, hostRefusal(req)));
    if (!originAllowed(req.headers.origin, req.headers.host, allowedOrigins)) return send(res, problem(403, `origin ${req.headers.origin} is not allowed`));
    if (!authorized(req)) return send(res, problem(401, "this gateway requires a bearer token", { "www-authenticate": "Bearer" }));
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://gateway.invalid");
    } catch {
      return send(res, problem(400, "the request target is not a valid URL"));
    }
    const method = (req.method ?? "GET").toUpperCase();
    const found = route(method, url.pathname);
    if ("status" in found) return send(res, found);
    const body = await readBody(req, maxBodyBytes);
    if (body === null) return; // the client went away (or was displaced) before its body came
    admission.working(req, res);
    if (body === undefined) return send(res, problem(413, `the request body is over ${maxBodyBytes} bytes`, { connection: "close" }));
    const message = toMessage(req, method, url, found.params, body, found.route.cacheFor !== undefined && found.route.cacheFor > 0);
    if (message instanceof Error) return send(res, problem(400, message.message));
    const cacheFor = found.route.cacheFor ?? 0;
    try {
      const { reply, age } = await requester.exchange(found.route.channel, message, { timeout: found.route.timeout ?? timeout, cacheFor }, storableReply);
      send(res, replyToResponse(reply, cacheFor, age));
    } catch (err) {
      const status = httpStatusOf(err);
      const retryAfter = (err as { retryAfterMs?: unknown }).retryAfterMs;
      send(res, problem(status, (err as Error).message, typeof retryAfter === "number" ? { "retry-after": String(Math.max(1, Math.ceil(retryAfter / 1000))) } : {}));
    }
  };

  const server = createServer(SERVER_DEADLINES, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, problem(500, `gateway error: ${(err as Error).message}`));
      else res.destroy();
    });
  });
  const admission = new Admission(server, maxConnections);
  const counters: GatewayCounters = { requests: 0, responses: {}, connections: admission.counters };
  server.on("listening", () => (loopbackBound = boundToLoopback(server)));

  return {
    server,
    counters,
    listen(port = 0, host = "127.0.0.1") {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        // A deep backlog: a burst of connections waits in the kernel rather than being refused.
        server.listen({ port, host, backlog: 4096 }, () => {
          server.off("error", reject);
          const address = server.address() as AddressInfo;
          resolve(`http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The body, undefined once it passes `limit` (the rest is not read), null if the client went away first. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined | null> {
  return new Promise((resolve) => {
    const declared = Number(req.headers["content-length"]);
    if (declared > limit) {
      req.resume();
      return resolve(undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks, size)));
    // A reset or a close before "end" is the client gone; after "end", a no-op.
    req.on("close", () => resolve(null));
    req.on("error", () => resolve(null));
  });
}

/** The `http.request` message for a request, or why its body cannot be read (a 400). */
function toMessage(req: IncomingMessage, method: string, url: URL, params: Record<string, string>, body: Buffer, cached: boolean): Message | SyntaxError {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || PRIVATE_HEADERS.has(name)) continue;
    if (cached && !CACHED_ROUTE_HEADERS.includes(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  const query: Record<string, MessageValue> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const values = url.searchParams.getAll(key);
    query[key] = values.length === 1 ? values[0]! : values;
  }
  const message: Message = { type: "http.request", method, path: url.pathname, query, params, headers };
  if (body.length === 0) return message;
  const contentType = req.headers["content-type"] ?? "application/octet-stream";
  if (/^application\/(.+\+)?json\b/i.test(contentType)) {
    try {
      message.body = JSON.parse(body.toString("utf8")) as MessageValue;
    } catch (err) {
      return new SyntaxError(`the body is not valid JSON: ${(err as Error).message}`);
    }
  } else {
    message.body = body;
    message.content_type = contentType;
  }
  return message;
}
