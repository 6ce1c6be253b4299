/**
 * The broker's HTTP side door: Prometheus metrics, a live status page, its
 * server-sent events and a JSON snapshot, on one node:http server.
 *
 *   GET /           the status page (one self-contained HTML document)
 *   GET /events     server-sent events: a snapshot now, then one a second
 *   GET /api/stats  the snapshot as JSON
 *   GET /metrics    Prometheus text format
 *   GET /healthz    200 while the process is up
 *   GET /readyz     200 while the broker accepts clients, else 503
 *
 * With `tokens`, every path but the page itself (which holds no data, and
 * asks for the token) needs `Authorization: Bearer <token>`. Without, it
 * binds to loopback only: what it shows (channel and group names, client
 * addresses) is for operators.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Broker } from "../protocol/broker.js";
import { Admission, SERVER_DEADLINES } from "../http/admission.js";
import { boundToLoopback, checkAllowedHosts, hostAllowed, hostRefusal } from "../http/host-check.js";
import { isLoopback, parseHttpAddress } from "./http-address.js";
import { BrokerMetrics } from "./metrics.js";
import { Sampler, type SamplerOptions, type Snapshot } from "./snapshot.js";
import { STATUS_PAGE } from "./status-page.js";

/** Connections served at once; past it slow or idle ones make room, else 503 (docs/security.md#slow-and-many-http-clients). */
const MAX_CONNECTIONS = 1024;

/** Unsent event-stream bytes past which a reader is dropped (about a minute of snapshots of a busy broker). */
const MAX_UNREAD_BYTES = 1024 * 1024;

export interface ObserveServerOptions extends SamplerOptions {
  /** `host:port`, `http://host:port` or a bare port (loopback). Port 0 picks a free one. Default `127.0.0.1:0`. */
  listen?: string;
  /** Bearer tokens accepted; without any, only a loopback address may be listened on. */
  tokens?: string[];
  /**
   * Host names answered besides localhost, 127.0.0.1 and [::1] (exact, or
   * "*.example.com"). On loopback only those names are answered (DNS
   * rebinding gets 403); elsewhere any Host unless names are given.
   */
  allowedHosts?: readonly string[];
}

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

export { parseHttpAddress } from "./http-address.js";

export class ObserveServer {
  readonly metrics: BrokerMetrics;
  readonly sampler: Sampler;
  private readonly server: Server;
  private readonly admission: Admission;
  private readonly streams = new Set<ServerResponse>();
  private readonly address: { host: string; port: number };
  private closing: Promise<void> | undefined;
  private boundUrl = "";
  private lastEvent: { snapshot: Snapshot; text: string } | undefined;
  private readonly tokens: Buffer[];
  private readonly allowedHosts: readonly string[] | undefined;
  private loopbackBound = false;

  constructor(private readonly broker: Broker, options: ObserveServerOptions = {}) {
    this.address = parseHttpAddress(options.listen ?? "127.0.0.1:0");
    this.tokens = (options.tokens ?? []).map(digest);
    if (this.tokens.length === 0 && !isLoopback(this.address.host)) {
      throw new Error(
        `refusing to serve broker stats on ${this.address.host} (not loopback) without a token: ` +
          "give the broker a --token-file or the page an --http-token-file (the tokens option), or listen on 127.0.0.1",
      );
    }
    this.allowedHosts = checkAllowedHosts(options.allowedHosts, "allowedHosts");
    this.metrics = new BrokerMetrics(broker);
    this.sampler = new Sampler(broker, options);
    this.server = createServer(SERVER_DEADLINES, (req, res) => this.route(req, res));
    this.admission = new Admission(this.server, MAX_CONNECTIONS);
  }

  /** Where it listens, e.g. `http://127.0.0.1:9464` (after `listen()`). */
  get url(): string {
    return this.boundUrl;
  }

  /** Start serving; on failure (port taken, bad host) everything is released again. */
  async listen(): Promise<string> {
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once("error", reject);
        this.server.listen({ port: this.address.port, host: this.address.host, backlog: 4096 }, () => {
          this.server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      await this.close();
      throw err;
    }
    const bound = this.server.address();
    if (bound === null || typeof bound === "string") throw new Error("the HTTP server has no TCP address");
    this.loopbackBound = boundToLoopback(this.server);
    this.boundUrl = `http://${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
    return this.boundUrl;
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    if (!this.admission.admit(req)) {
      res.writeHead(503, { "content-type": "text/plain", "retry-after": "1", connection: "close" });
      res.end(`every one of the ${MAX_CONNECTIONS} connections is being answered: try again\n`);
      return;
    }
    this.admission.working(req, res); // a GET: its request is whole
    if (!hostAllowed(req, this.loopbackBound, this.allowedHosts)) {
      res.writeHead(403, { "content-type": "text/plain" }).end(`${hostRefusal(req)}\n`);
      return;
    }
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://localhost").pathname;
    } catch {
      // "GET http://[ HTTP/1.1" parses as HTTP; thrown from here it would be uncaught and end the broker.
      res.writeHead(400, { "content-type": "text/plain" }).end("bad request target\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("only GET is served here\n");
      return;
    }
    if (path !== "/" && !this.authorized(req)) {
      res.writeHead(401, { "www-authenticate": 'Bearer realm="channel-layers"', "content-type": "text/plain" });
      res.end("this needs the broker's token: send Authorization: Bearer <token>\n");
      return;
    }
    switch (path) {
      case "/":
        return send(res, 200, "text/html; charset=utf-8", STATUS_PAGE);
      case "/api/stats":
        return void this.sampler.read().then((snapshot) => send(res, 200, "application/json", JSON.stringify(snapshot)));
      case "/events":
        return this.events(res);
      case "/healthz":
        return send(res, 200, "text/plain", "ok\n");
      case "/readyz":
        return this.broker.accepting
          ? send(res, 200, "text/plain", "ready\n")
          : send(res, 503, "text/plain", this.broker.closed ? "shutting down\n" : "at the connection limit\n");
      case "/metrics":
        this.metrics.metrics().then(
          (text) => send(res, 200, this.metrics.contentType, text),
          (err: Error) => send(res, 500, "text/plain", `metrics failed: ${err.message}\n`),
        );
        return;
      default:
        return send(res, 404, "text/plain", "not found: try /, /metrics, /events, /api/stats, /healthz or /readyz\n");
    }
  }

  /** No tokens, or a bearer token that is one of them (compared in constant time, every one). */
  private authorized(req: IncomingMessage): boolean {
    if (this.tokens.length === 0) return true;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    if (m === null) return false;
    const presented = digest(m[1]!);
    let ok = false;
    for (const t of this.tokens) ok = timingSafeEqual(presented, t) || ok;
    return ok;
  }

  private events(res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    this.streams.add(res);
    let stop: (() => void) | undefined;
    let closed = false;
    res.on("close", () => {
      closed = true;
      stop?.();
      this.streams.delete(res);
    });
    // The first snapshot, with the whole rate history, before any of the watcher's.
    void this.sampler.read().then((snapshot) => {
      if (closed || res.writableEnded) return;
      res.write(`data: ${JSON.stringify(snapshot)}\n\n`);
      stop = this.sampler.watch((snapshot) => {
        // A reader that stopped reading is let go rather than buffered for without end.
        if (res.writableLength > MAX_UNREAD_BYTES) return void res.destroy();
        res.write(this.eventText(snapshot));
      });
    });
  }

  /** Every watcher gets the same snapshot each interval: it is serialised once. */
  private eventText(snapshot: Snapshot): string {
    if (this.lastEvent?.snapshot !== snapshot) this.lastEvent = { snapshot, text: `data: ${JSON.stringify(snapshot)}\n\n` };
    return this.lastEvent.text;
  }

  /** Stop serving: event streams end, the port is released, metrics stop timing. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.sampler.close();
      this.metrics.close();
      for (const res of this.streams) res.end();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
