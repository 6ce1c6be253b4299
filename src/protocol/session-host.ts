/**
 * What a Session needs of the broker that serves it. The broker implements
 * it; a session sees nothing else of the broker, so the import goes one way
 * (broker.ts → session.ts) and either file can be read alone.
 */
import type { Engine, Waiter } from "../engine/engine.js";
import type { ResolvedOptions } from "../options/layer-options.js";
import type { ReplyShares } from "./reply-shares.js";
import type { Grant } from "./auth.js";
import type { BrokerDetails, BrokerStats } from "./ops.js";
import type { Settling } from "./settling.js";

/** A session as the broker counts it when it ends. */
export interface EndedSession {
  readonly instanceId: string | undefined;
  readonly refused: boolean;
}

export interface SessionHost {
  /** The layer options every client is told in hello (expiry, capacity, maxMessageBytes…). */
  readonly config: ResolvedOptions;
  /** The one engine every session runs its requests on; bodies are opaque bytes. */
  readonly engine: Engine<Buffer, Waiter<Buffer>, Buffer>;
  /** Who holds what ahead, and the sends waiting for them to settle it (settling.ts). */
  readonly settling: Settling;
  readonly maxConnections: number;
  readonly maxPendingReceives: number;
  readonly helloTimeout: number;
  /** Largest frame the transport accepts from a client, told in hello. */
  readonly maxFrameBytes: number;
  /** Told in hello: a new value means a new broker. */
  readonly epoch: string;
  /** Set once the broker closes: what sessions held ahead is not given back to a closed engine. */
  readonly closed: boolean;
  /** Grows by one each event-loop turn in which any session was served (see nextTurn). */
  readonly turn: number;
  /** Set by metrics to time requests (op, seconds); unset, nothing is timed. */
  readonly onRequest: ((op: number, seconds: number) => void) | undefined;
  /** The shared reply cache of `request(…, { cacheFor })`, with its hit and miss counts. */
  readonly replies: ReplyShares;
  replyHits: number;
  replyMisses: number;
  log(line: string): void;
  /** Count a served request in this turn of the event loop. */
  nextTurn(): void;
  /** What `token` grants, or undefined when the broker does not know it. */
  grantFor(token: unknown): Grant | undefined;
  validInstanceId(id: unknown): id is string;
  /** Join instance `id` presenting `secret` (its id must derive from it): whether its state was kept, or undefined to refuse. */
  attach(id: string, secret: unknown): { resumed: boolean } | undefined;
  /** Remember a process-local channel, to clean it up when its instance goes. */
  track(channel: string): void;
  /** A session ended. */
  detach(session: EndedSession): void;
  /** Give `then` the answer to a stats op, at once or once a census is walked (census.ts); `only` limits the client list to one instance. */
  statsAnswer(top: number | undefined, only: Viewer | undefined, then: (answer: StatsAnswer) => void): void;
}

/** Who asks for stats without admin rights: it is shown only its own connections and the names its token covers. */
export interface Viewer {
  instance: string;
  grant: Grant;
}

/** An answer to the stats op and its estimated size on the wire. */
export interface StatsAnswer {
  value: BrokerStats | (BrokerStats & BrokerDetails);
  bytes: number;
}
