/**
 * BrokerServer: the broker on sockets. Listens on any mix of tcp://, tls://
 * and unix:// addresses at once, all serving one engine (one Broker).
 */
import { existsSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import { Broker, type BrokerOptions } from "../protocol/broker.js";
import { HELLO_FRAME_BYTES, PARTIAL_FRAME_BYTES } from "../protocol/limits.js";
import type { BrokerStats } from "../protocol/ops.js";
import type { Session } from "../protocol/session.js";
import { positiveOption } from "../options/positive-option.js";
import { DEFAULT_LISTEN, formatAddress, parseAddress, type Address } from "./address.js";
import { PartialFrames } from "./partial-frames.js";
import { streamLink } from "./stream-link.js";

export interface BrokerServerOptions extends BrokerOptions {
  /** Addresses to listen on. Default `tcp://127.0.0.1:6741`. Port 0 picks a free port. */
  listen?: string | string[];
  /** For tls:// addresses: node:tls server options (cert and key at least). */
  tls?: TlsOptions;
  /**
   * Bytes of frames still arriving that all connections may hold at once
   * (each reserves its frame's whole size); a connection without room stops
   * being read until there is. At least maxFrameBytes + 4. Default 64 MiB, or
   * four of the largest frames if that is more.
   */
  maxPartialBytes?: number;
}

export class BrokerServer {
  readonly broker: Broker;
  private readonly servers: Server[] = [];
  private readonly listenOn: Address[];
  private readonly partialFrames: PartialFrames;
  private urls: string[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly options: BrokerServerOptions = {}) {
    const listen = options.listen ?? DEFAULT_LISTEN;
    this.listenOn = (Array.isArray(listen) ? listen : [listen]).map((url) => parseAddress(url));
    if (this.listenOn.some((a) => a.kind === "tls") && !(options.tls?.cert && options.tls.key)) {
      throw new TypeError("a tls:// listen address needs the tls option with a cert and a key");
    }
    this.broker = new Broker(options);
    const maxFrameBytes = this.broker.maxFrameBytes;
    const maxPartialBytes = positiveOption(options.maxPartialBytes, "maxPartialBytes", Math.max(PARTIAL_FRAME_BYTES, 4 * maxFrameBytes), true);
    // A frame reserves its length header too.
    if (maxPartialBytes < maxFrameBytes + 4) {
      throw new RangeError(`maxPartialBytes (${maxPartialBytes}) must be at least maxFrameBytes + 4 (${maxFrameBytes + 4}): the largest frame could never arrive`);
    }
    this.partialFrames = new PartialFrames(maxPartialBytes);
  }

  /** The addresses listened on, with ports resolved (after `listen()`). */
  get addresses(): readonly string[] {
    return this.urls;
  }

  /** Start listening on every address; resolves with their URLs. */
  async listen(): Promise<string[]> {
    try {
      for (const address of this.listenOn) this.urls.push(await this.listenOne(address));
    } catch (err) {
      await this.close();
      throw err;
    }
    for (const url of this.urls) this.broker.log(`listening on ${url}`);
    return [...this.urls];
  }

  private async listenOne(address: Address): Promise<string> {
    const onSocket = (socket: Socket): void => this.accept(socket, address.kind);
    // A readable highWaterMark of 0: a paused socket stops reading at once (see throttleDribbles).
    const server =
      address.kind === "tls" ? createTlsServer(this.options.tls!, onSocket) : createServer({ highWaterMark: 0 }, onSocket);
    server.on("error", (err: Error) => this.broker.log(`listener error: ${err.message}`));
    server.on("tlsClientError", (err: Error) => this.broker.log(`TLS handshake failed: ${err.message}`));
    if (address.kind === "unix") await removeStaleSocket(address.path);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      const done = (): void => {
        server.off("error", reject);
        resolve();
      };
      if (address.kind === "unix") server.listen(address.path, done);
      else server.listen(address.port, address.host, done);
    });
    this.servers.push(server);
    const bound = server.address()!;
    return formatAddress(address.kind, bound);
  }

  private accept(socket: Socket, kind: Address["kind"]): void {
    const peer = kind === "unix" ? "unix socket" : `${kind} ${socket.remoteAddress}:${socket.remotePort}`;
    // The handlers run on socket events, never before open() returns.
    const link = streamLink(
      socket,
      {
        onFrame: (frame) => session.onFrame(frame),
        onMalformed: (err) => session.onMalformed(err),
        onDrained: () => session.onDrained(),
        onClosed: () => session.onClosed(),
      },
      {
        maxFrameBytes: this.broker.maxFrameBytes,
        unknownFrameBytes: HELLO_FRAME_BYTES,
        partialFrames: this.partialFrames,
        throttleDribbles: true,
      },
    );
    const session: Session = this.broker.open(link, peer);
  }

  stats(): BrokerStats {
    return this.broker.stats();
  }

  /**
   * Stop accepting, end every connection (their waiting receives end; clients
   * reconnect to the next broker or time out) and free every timer. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.broker.log("shutting down");
      const closed = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      this.broker.close();
      await Promise.all(closed);
    })();
    return this.closing;
  }
}

/** A socket file left by a broker that died: remove it, unless a live broker answers there. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection({ path });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (alive) throw new Error(`another process is listening on unix socket ${path}`);
  unlinkSync(path);
}
