/**
 * `serve({ server, routes, layer })`: WebSocket consumers on an existing
 * http(s) server. `ws` runs in noServer mode on the server's "upgrade"
 * event, so the same port keeps serving plain HTTP.
 */
import type { IncomingMessage, Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { loadWs } from "../dependencies/load-on-use.js";
import { BaseLayer } from "../base.js";
import type { ChannelLayer, LayerState } from "../layer.js";
import { CloseCode } from "./close-codes.js";
import { defaultErrorHook, type ConsumerOptions, type ErrorPolicy } from "./consumer.js";
import { frameCodec, type FrameFormat } from "./frames.js";
import { boundToLoopback, checkAllowedHosts, hostAllowed, hostRefusal } from "../http/host-check.js";
import { checkAllowedOrigins, originAllowed, type AllowedOrigins } from "./origins.js";
import { Router } from "./routing.js";
import { Throttle, type ThrottleOptions } from "./throttle.js";
import { chosenSubprotocol, httpUpgrade } from "./upgrade.js";
import type { Upgrade, WebSocketConsumer, WebSocketInit } from "./websocket.js";

export interface WebSocketRoute {
  /** "/ws/chat/:room": each ":name" matches one path segment, given to the consumer as `scope.params.name`. */
  path: string;
  consumer: new (init: WebSocketInit) => WebSocketConsumer;
  /** "json" text frames (default) or "msgpack" binary frames. */
  frames?: FrameFormat;
  throttle?: ThrottleOptions;
  /** Overrides the server-wide `maxBufferedBytes` for this route. */
  maxBufferedBytes?: number;
  /** Overrides the server-wide `handlerErrors` for this route. */
  handlerErrors?: ErrorPolicy;
  /** Overrides the server-wide `allowedOrigins` for this route. */
  allowedOrigins?: AllowedOrigins;
  /** Overrides the server-wide `authenticate` for this route. */
  authenticate?: Authenticate;
}

/**
 * Who is connecting, from the handshake request (its cookies, headers,
 * query): the result becomes `scope.user`. Returning null or undefined
 * refuses the handshake with 401; throwing refuses it with 403.
 */
export type Authenticate = (request: IncomingMessage) => unknown;

export interface ServeOptions extends ConsumerOptions {
  server: HttpServer | HttpsServer;
  routes: readonly WebSocketRoute[];
  layer: ChannelLayer;
  /** Largest frame a client may send, in bytes; larger ones close the socket with 1009. Default 1 MiB. */
  maxPayload?: number;
  /** Unsent bytes a client may leave queued before it is closed with `CloseCode.slowClient`. Default 1 MiB. */
  maxBufferedBytes?: number;
  /**
   * Web pages (by their Origin header) that may connect: exact origins,
   * "*.example.com" patterns, or "*" for all. Default: pages of the same
   * host as the request's Host header. Others are refused with 403.
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * Host names answered besides localhost, 127.0.0.1 and [::1] (exact, or
   * "*.example.com"). On a server bound to loopback, a route with the default
   * origins answers only those names (a DNS-rebinding page gets 403, no
   * WebSocket); elsewhere any Host unless names are given here.
   */
  allowedHosts?: readonly string[];
  /** Run on every handshake before a consumer is made; see `Authenticate`. */
  authenticate?: Authenticate;
  /** Where one-line reports of what clients did wrong go (refused handshakes, oversized frames, throttling). Default console.warn. */
  log?: (line: string) => void;
  /** Milliseconds `close()` waits for clients to finish closing (and their handlers to return) before dropping them. Default 2000. */
  closeTimeout?: number;
}

export interface WebSocketService {
  /**
   * Resolves once the layer is ready; rejects with one line naming the
   * layer's address when it cannot connect within its connect timeout (or
   * refuses us). Await it before listening: a wrong URL then fails at start,
   * not at every browser's handshake.
   */
  readonly ready: Promise<void>;
  /** Live connections (consumers not yet stopped). */
  readonly connections: number;
  /** Stop accepting, close every connection with 1001 and wait for their consumers to stop. The server and layer stay open. */
  close(): Promise<void>;
}

/** What `serve()` takes, less the server: the routes, the layer and every rule a connection meets. */
export type WebSocketApp = Omit<ServeOptions, "server">;

/**
 * One app's connections, whatever carries them: `serve()` feeds it HTTP
 * upgrades, the testing kit's communicator in-memory ones, so both meet the
 * same routing, rules and consumers.
 */
export interface ConnectionHandler {
  /** See `WebSocketService.ready`. */
  readonly ready: Promise<void>;
  /** Largest frame a client may send, in bytes; the transport closes with 1009 past it. */
  readonly maxPayload: number;
  readonly connections: number;
  /** Take one connection through the handshake: refuse it, or make and open its consumer. Never rejects. */
  handle(request: IncomingMessage, upgrade: Upgrade): Promise<WebSocketConsumer | void>;
  /** Refuse new connections, close every live one with 1001 and wait for their consumers to stop. */
  close(): Promise<void>;
}

export function serve(options: ServeOptions): WebSocketService {
  const { server } = options;
  const handler = connectionHandler(options, () => boundToLoopback(server));
  const wss = new (loadWs().WebSocketServer)({
    noServer: true,
    clientTracking: false,
    maxPayload: handler.maxPayload,
    handleProtocols: (_offered, request) => chosenSubprotocol.get(request) ?? false,
  });
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // A reset before ws takes the socket over must not become an uncaught error.
    socket.on("error", () => socket.destroy());
    void handler.handle(request, httpUpgrade(wss, request, socket, head));
  };
  server.on("upgrade", onUpgrade);
  let closing: Promise<void> | undefined;
  return {
    ready: handler.ready,
    get connections() {
      return handler.connections;
    },
    close() {
      closing ??= (async () => {
        server.off("upgrade", onUpgrade);
        await handler.close();
        wss.close();
      })();
      return closing;
    },
  };
}

/** `loopbackBound` says whether the server carrying the connections listens on loopback only (the Host rule depends on it). */
export function connectionHandler(options: WebSocketApp, loopbackBound: () => boolean = () => false): ConnectionHandler {
  const { layer } = options;
  const onError = options.onError ?? defaultErrorHook;
  const log = options.log ?? ((line: string) => console.warn(`[channel-layers] ${line}`));
  const serverOrigins = checkAllowedOrigins(options.allowedOrigins, "allowedOrigins");
  const allowedHosts = checkAllowedHosts(options.allowedHosts, "allowedHosts");
  const router = new Router(
    options.routes.map((route) => {
      frameCodec(route.frames); // a bad format fails here, not at the first connection
      const allowedOrigins = checkAllowedOrigins(route.allowedOrigins, `routes["${route.path}"].allowedOrigins`) ?? serverOrigins;
      return { ...route, allowedOrigins, throttle: route.throttle && new Throttle(route.throttle) };
    }),
  );
  const consumers = new Set<WebSocketConsumer>();
  let closing: Promise<void> | undefined;

  const handle = async (request: IncomingMessage, upgrade: Upgrade): Promise<WebSocketConsumer | void> => {
    if (closing || layer.state === "failed") return upgrade.refuse(503, "Service Unavailable");
    let url: URL;
    try {
      url = new URL(request.url ?? "/", "http://localhost");
    } catch {
      return upgrade.refuse(400, "Bad Request");
    }
    const match = router.match(url.pathname);
    if (!match) return upgrade.refuse(404, "Not Found");
    const { route, params } = match;
    const peer = `${request.socket?.remoteAddress ?? "?"} ${url.pathname}`;
    // With its own origins a route has named the pages it trusts; with the default (same host) it trusts Host, so Host must be ours.
    if ((route.allowedOrigins === undefined || allowedHosts !== undefined) && !hostAllowed(request, loopbackBound(), allowedHosts)) {
      log(`WebSocket from ${peer} refused: ${hostRefusal(request)}`);
      return upgrade.refuse(403, "Forbidden");
    }
    const origin = request.headers.origin;
    if (!originAllowed(origin, request.headers.host, route.allowedOrigins)) {
      log(`WebSocket from ${peer} refused: origin ${origin} is not allowed`);
      return upgrade.refuse(403, "Forbidden");
    }
    let user: unknown;
    const authenticate = route.authenticate ?? options.authenticate;
    if (authenticate !== undefined) {
      try {
        user = await authenticate(request);
      } catch (err) {
        log(`WebSocket from ${peer} refused: ${err instanceof Error ? err.message : String(err)}`);
        return upgrade.refuse(403, "Forbidden");
      }
      if (closing) return upgrade.refuse(503, "Service Unavailable");
      if (user == null) {
        log(`WebSocket from ${peer} refused: not authenticated`);
        return upgrade.refuse(401, "Unauthorized");
      }
    }
    const offered = request.headers["sec-websocket-protocol"];
    let consumer: WebSocketConsumer;
    try {
      consumer = new route.consumer({
        layer,
        onError,
        handlerErrors: route.handlerErrors ?? options.handlerErrors,
        scope: {
          path: url.pathname,
          params,
          query: url.searchParams,
          headers: request.headers,
          subprotocols: offered ? offered.split(",").map((p) => p.trim()).filter(Boolean) : [],
          request,
          user,
        },
        log,
        upgrade,
        frames: route.frames,
        maxBufferedBytes: route.maxBufferedBytes ?? options.maxBufferedBytes,
        admit: route.throttle?.forConnection(),
        onLimit: route.throttle?.onLimit,
      });
    } catch (err) {
      onError(err, {});
      return upgrade.refuse(500, "Internal Server Error");
    }
    consumers.add(consumer);
    void consumer.done.then(() => consumers.delete(consumer));
    consumer.open().catch((err: unknown) => {
      onError(err, { consumer });
      consumer.terminate();
      void consumer.stop();
    });
    return consumer;
  };
  // A failed layer leaves every socket deaf: close them so browsers reconnect (to a healthy server, or here once it is back).
  const onState = (state: LayerState): void => {
    if (state !== "failed") return;
    for (const c of consumers) c.close(CloseCode.serviceRestart, "channel layer unavailable");
  };
  layer.on?.("state", onState);
  const ready = layer instanceof BaseLayer ? layer.whenReady() : Promise.resolve();
  ready.catch(() => {}); // whoever awaits `ready` hears of it; nobody else must

  return {
    ready,
    maxPayload: options.maxPayload ?? 1024 * 1024,
    get connections() {
      return consumers.size;
    },
    handle,
    close() {
      closing ??= (async () => {
        layer.off?.("state", onState);
        const live = [...consumers];
        for (const c of live) c.close(CloseCode.goingAway, "server shutting down");
        // Past the timeout, drop the socket and stop the consumer even if a handler never returns.
        const timer = setTimeout(() => {
          for (const c of live) {
            c.terminate();
            void c.stop();
          }
        }, options.closeTimeout ?? 2000);
        await Promise.all(live.map((c) => c.done));
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}
