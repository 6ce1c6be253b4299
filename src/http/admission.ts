/**
 * Who an HTTP server of ours (the gateway, the broker's --http side) serves
 * when more clients come than it takes (docs/security.md#slow-and-many-http-clients).
 *
 * Node's own `server.maxConnections` closes every connection past the cap
 * at once: a thousand sockets that send their requests slowly then lock out
 * every new client, and a burst of requests gets resets. Here instead:
 *
 * - A connection past the cap displaces one that is not being worked on (an
 *   idle keep-alive connection, or one still sending its request a second
 *   after it came), taken from the address that holds the most connections,
 *   oldest first, and never from an address holding no more than the
 *   newcomer's: slow senders make room for new clients, and one address
 *   cannot crowd out others where addresses tell clients apart.
 * - With none to displace (every connection is being answered), the new one
 *   is read until its request comes; if a place frees by then, or one may be
 *   displaced then, it is served, else answered 503 with `Retry-After`. Only past four times
 *   the cap of such connections is one closed unread.
 * - Deadlines (`SERVER_DEADLINES`): headers within 10 s, the whole request
 *   (its body) within 30 s, checked every second; past them Node answers 408.
 */
import type { IncomingMessage, ServerOptions, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** Node's request deadlines for our servers: the header and body deadlines, enforced within a second. */
export const SERVER_DEADLINES = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 } satisfies ServerOptions;

/**
 * How long a connection keeps its place unconditionally after it came (or its
 * last answer was sent): in a burst, connections are accepted faster than
 * their requests are read, and one not yet read is not a slow one.
 */
const GRACE_MS = 1000;

/** Waiting connections past the cap that are still read (to be answered 503), as a multiple of the cap. */
const OVERFLOW_FACTOR = 4;

export interface AdmissionCounters {
  /** Connections closed to make room for a new one (slow senders, idle keep-alives). */
  displaced: number;
  /** Requests answered 503 because every place was taken by a request being worked on. */
  refused: number;
  /** Connections closed unread: past the cap and past the overflow too. */
  dropped: number;
}

interface Held {
  address: string;
  /** Its request was read whole and is being answered: not displaced. */
  working: boolean;
  /** When it came, or its last answer was sent (Date.now()). */
  since: number;
}

export class Admission {
  readonly counters: AdmissionCounters = { displaced: 0, refused: 0, dropped: 0 };
  /** The connections served, oldest first. */
  private readonly served = new Map<Socket, Held>();
  private readonly perAddress = new Map<string, number>();
  /** Connections past the cap, oldest first, waiting for a place or for their request (then 503). */
  private readonly waiting = new Set<Socket>();

  constructor(
    server: Server,
    readonly maxConnections: number,
  ) {
    server.on("connection", (socket: Socket) => this.arrive(socket));
  }

  /** Called first for every request: false when it was not given a place, and must be answered 503 with `Connection: close`. */
  admit(req: IncomingMessage): boolean {
    if (!this.waiting.delete(req.socket)) return true;
    // Its request came while it waited: one more try, now that young connections may have shown themselves slow.
    if (this.displaceFor(req.socket)) return true;
    this.counters.refused++;
    return false;
  }

  /** The request was read whole and is being answered: its connection is not displaced until the response ends. */
  working(req: IncomingMessage, res: ServerResponse): void {
    const held = this.served.get(req.socket);
    if (held === undefined) return;
    held.working = true;
    res.once("close", () => {
      held.working = false;
      held.since = Date.now();
    });
  }

  /** Connections held now (for tests and stats). */
  get connections(): number {
    return this.served.size;
  }

  private arrive(socket: Socket): void {
    if (this.served.size < this.maxConnections) return this.hold(socket);
    if (this.displaceFor(socket)) return;
    if (this.waiting.size >= this.maxConnections * OVERFLOW_FACTOR) {
      this.counters.dropped++;
      return void socket.destroy();
    }
    this.waiting.add(socket);
    socket.once("close", () => this.waiting.delete(socket));
  }

  /** Closes a connection to make room for `socket`, if one may be closed; then holds `socket`. */
  private displaceFor(socket: Socket): boolean {
    const victim = this.victim(socket.remoteAddress ?? "?");
    if (victim === undefined) return false;
    this.counters.displaced++;
    this.release(victim, false);
    victim.destroy();
    this.hold(socket);
    return true;
  }

  private hold(socket: Socket): void {
    const address = socket.remoteAddress ?? "?";
    this.served.set(socket, { address, working: false, since: Date.now() });
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    socket.once("close", () => this.release(socket));
  }

  /** Gives up `socket`'s place (idempotent); unless a newcomer takes it, the oldest connection waiting for its request does. */
  private release(socket: Socket, promote = true): void {
    const held = this.served.get(socket);
    if (held === undefined) return;
    this.served.delete(socket);
    const left = this.perAddress.get(held.address)! - 1;
    if (left === 0) this.perAddress.delete(held.address);
    else this.perAddress.set(held.address, left);
    const [next] = this.waiting;
    if (promote && next !== undefined) {
      this.waiting.delete(next);
      this.hold(next);
    }
  }

  /**
   * The connection to close for a newcomer from `address`: one not being
   * worked on nor new, of the address holding most, oldest first. Only its
   * own address's, or one of an address that would still hold more than the
   * newcomer's: many sockets from one address cannot push out the few of another.
   */
  private victim(address: string): Socket | undefined {
    let best: Socket | undefined;
    let bestCount = 0;
    const settled = Date.now() - GRACE_MS;
    const newcomers = this.perAddress.get(address) ?? 0;
    for (const [socket, held] of this.served) {
      if (held.working || held.since > settled) continue;
      const count = this.perAddress.get(held.address)!;
      if (held.address !== address && count <= newcomers + 1) continue;
      if (count > bestCount) {
        best = socket;
        bestCount = count;
      }
    }
    return best;
  }
}
