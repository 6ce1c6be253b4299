/**
 * Where the Redis servers are and how we talk to them: the `hosts` forms
 * channels_redis accepts (so a Django `CONFIG` can be copied over), one
 * command client per shard, and how a long outage becomes ConnectionLostError.
 */
import type { Redis, RedisOptions } from "ioredis";
import { loadIoredis } from "../dependencies/load-on-use.js";
import { ConnectionLostError } from "../errors.js";
import { fullScripting, installScripts, type ScriptedRedis } from "./scripts.js";

/** channels_redis' dict form of a host: `{"address": url}` or a Sentinel description. */
export interface PythonStyleHost {
  address?: string;
  master_name?: string;
  sentinels?: Array<[string, number] | { host: string; port: number }>;
  sentinel_kwargs?: { password?: string };
  host?: string;
  port?: number;
  db?: number;
  password?: string;
  username?: string;
}

/**
 * One Redis server: a URL (`redis://:pw@host:6379/0`, `rediss://…`), a
 * `[host, port]` pair, ioredis options (Sentinel: `{ sentinels, name }`), or
 * channels_redis' dict form.
 */
export type RedisHost = string | [string, number] | RedisOptions | PythonStyleHost;

/** Makes a client; tests pass one that returns ioredis-mock instances. */
export type ClientFactory = (target: string | RedisOptions, options: RedisOptions) => Redis;

export const defaultFactory: ClientFactory = (target, options) => {
  const { Redis } = loadIoredis();
  return typeof target === "string" ? new Redis(target, options) : new Redis({ ...target, ...options });
};

/** Normalise a host to what ioredis takes. */
export function resolveHost(host: RedisHost): string | RedisOptions {
  if (typeof host === "string") return host;
  if (Array.isArray(host)) return { host: host[0], port: host[1] };
  const py = host as PythonStyleHost;
  if (typeof py.address === "string") return py.address;
  if (py.master_name !== undefined) {
    const { master_name, sentinels = [], sentinel_kwargs, ...rest } = py;
    return {
      ...(rest as RedisOptions),
      name: master_name,
      sentinels: sentinels.map((s) => (Array.isArray(s) ? { host: s[0], port: s[1] } : s)),
      ...(sentinel_kwargs?.password ? { sentinelPassword: sentinel_kwargs.password } : {}),
    };
  }
  return host as RedisOptions;
}

/** A host for error messages, without its password. */
export function describeHost(target: string | RedisOptions): string {
  if (typeof target === "string") return target.replace(/\/\/[^@/]*@/, "//***@");
  if (target.sentinels) return `sentinel master "${target.name}"`;
  return `${target.host ?? "localhost"}:${target.port ?? 6379}`;
}

/**
 * ioredis options that turn "Redis down for `timeoutMs`" into a rejected
 * command: it retries every `delay` ms and, after as many attempts as fit in
 * the timeout, flushes its queue with MaxRetriesPerRequestError, so a command
 * given up on is never sent later behind the caller's back.
 */
export function outageOptions(timeoutMs: number): RedisOptions {
  const delay = Math.max(10, Math.min(500, Math.round(timeoutMs / 20)));
  return {
    retryStrategy: () => delay,
    maxRetriesPerRequest: Math.max(1, Math.ceil(timeoutMs / delay)),
  };
}

export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === "MaxRetriesPerRequestError" ||
    err.message === "Connection is closed." ||
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EPIPE|Stream isn't writeable/.test(err.message) ||
    // A Redis Cluster between a master's death and its replica's promotion (cluster.ts).
    /^CLUSTERDOWN|^TRYAGAIN|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available/.test(err.message)
  );
}

/**
 * The error a caller sees: ConnectionLostError for an outage, the error itself
 * otherwise. `cause` is the connection's own last error (ECONNREFUSED…), which
 * says more than ioredis' "max retries per request" that ends the command.
 */
export function mapError(err: unknown, where: string, timeoutMs: number, cause?: Error): unknown {
  if (!isConnectionError(err)) return err;
  const why = (err as Error).name === "MaxRetriesPerRequestError" && cause !== undefined ? cause.message : (err as Error).message;
  return new ConnectionLostError(
    `Redis at ${where} could not be reached (${why}); gave up after about ${timeoutMs} ms ` +
      "(connectionLostTimeout). The layer keeps its state and reconnects by itself: retry the call.",
  );
}

/**
 * Refusals a reconnect cannot cure: the server answers, but not as the URL
 * asks. ioredis only reports a failed SELECT as an "error" event and goes on
 * using database 0, where every key would land.
 */
const FATAL = /DB index is out of range|SELECT is not allowed/;

/**
 * A shard that is one hash slot of a Redis Cluster (cluster.ts): the command
 * client all its shards share, a maker of the receive loop's own client, and
 * the hash tag that puts every key of the shard in its slot.
 */
export interface ClusterLink {
  commands: ScriptedRedis;
  /**
   * The cluster's auto-pipelining client (made on first use, shared by every
   * shard): the hot calls of a tick to slots on one master go in one write.
   */
  pipelined(): ScriptedRedis;
  /** Close the auto-pipelining client, if it was made. */
  release(): Promise<void>;
  connect(): Redis;
  tag: string;
  where: string;
  /** The master serving this shard's slot, as the client last learned ("host:port"). */
  master(): string | undefined;
  /** Whether `node` still serves any slot (a master that failed serves none). */
  serves(node: string): boolean;
}

/** One Redis server of the ring (or one slot of a cluster): its command client, made with the layer's scripts. */
export class Shard {
  readonly commands: ScriptedRedis;
  readonly where: string;
  /** Put before every key of this shard: a cluster shard's hash tag (`{k}`), "" on a single server. */
  readonly tag: string;
  /** The connection's last error (ECONNREFUSED…): what an outage's message names. */
  lastError: Error | undefined;
  /** Set once Redis refused what the URL asks (a database it does not have): every call fails with it, nothing retries. */
  fatal: ConnectionLostError | undefined;
  private scripting: Promise<boolean> | undefined;

  /** `where` names the server in messages as the user wrote it (a redis+pubsub:// URL, say); the host without password by default. */
  constructor(
    readonly index: number,
    private readonly target: string | RedisOptions,
    private readonly factory: ClientFactory,
    private readonly options: RedisOptions,
    readonly timeoutMs: number,
    where?: string,
    readonly cluster?: ClusterLink,
  ) {
    this.where = where ?? cluster?.where ?? describeHost(target);
    this.tag = cluster?.tag ?? "";
    this.commands = cluster?.commands ?? installScripts(this.connect(false));
  }

  /**
   * Whether this server runs the full scripts (nested replies, cmsgpack). A
   * real Redis does; ioredis-mock does not, and then the layer pipelines plain
   * commands and polls instead of blocking.
   */
  full(): Promise<boolean> {
    this.scripting ??= fullScripting(this.commands).catch((err: unknown) => {
      this.scripting = undefined; // ask again once Redis answers
      throw err;
    });
    return this.scripting;
  }

  /** A new client to this server (the receive loop's blocking connection is one). */
  connect(autoPipelining = false): Redis {
    if (this.cluster) return this.cluster.connect();
    const client = this.factory(this.target, { ...this.options, enableAutoPipelining: autoPipelining });
    // Errors surface through the commands that fail (kept to name the cause); without a listener ioredis prints them.
    client.on("error", (err: Error) => {
      this.lastError = err;
      if (this.fatal === undefined && FATAL.test(err.message)) {
        this.fatal = new ConnectionLostError(
          `Redis at ${this.where} refused the connection: ${err.message} (the database number in the URL does not exist there); not retrying`,
        );
      }
      // The SELECT failed before the connection was ready: closing it now keeps every command off database 0.
      if (this.fatal !== undefined) client.disconnect();
    });
    return client;
  }

  fail(err: unknown): unknown {
    return this.fatal ?? mapError(err, this.where, this.timeoutMs, this.lastError);
  }

  /**
   * A hot call: a tick's sends, a group send's share of one shard, a receive
   * loop's pop. On a cluster it goes through the auto-pipelining client, so
   * the calls of one tick to slots on one master travel in one write and one
   * read instead of one each (the ring has 16 shards over a few masters).
   * ioredis follows a redirect of a pipeline only when every reply in it has
   * the same one; a MOVED or ASK among other replies is handed to its own
   * call, which goes again, alone, on the command client, which follows it.
   * Each call touches one slot, so a call redirected did not run.
   */
  async hot<T>(call: (client: ScriptedRedis) => Promise<T>): Promise<T> {
    if (!this.cluster) return call(this.commands);
    try {
      return await call(this.cluster.pipelined());
    } catch (err) {
      if (!(err instanceof Error) || !NOT_RUN.test(err.message)) throw err;
      return call(this.commands);
    }
  }

  /** Close this shard's command client (and a cluster's auto-pipelining one). */
  async release(): Promise<void> {
    await Promise.all([release(this.commands), this.cluster?.release()]);
  }
}

/**
 * A cluster's refusals of a call that did not run where it was sent: MOVED,
 * ASK, TRYAGAIN and CLUSTERDOWN from Redis, and ioredis' refusal of an
 * auto-pipeline whose slots moved to different masters before it was sent.
 */
const NOT_RUN = /^(?:MOVED|ASK|TRYAGAIN|CLUSTERDOWN) |^All keys in the pipeline should belong to the same slots allocation group/;

/** Why a Redis layer is not ready: a shard's refusal, else the shards that are `down` and their last errors. */
export function unavailableError(shards: readonly Shard[], down: readonly Shard[], timeoutMs: number): ConnectionLostError {
  const fatal = shards.find((s) => s.fatal !== undefined)?.fatal;
  if (fatal !== undefined) return fatal;
  const why = down.map((s) => s.lastError?.message).filter((m) => m !== undefined);
  return new ConnectionLostError(
    `Redis at ${down.map((s) => s.where).join(", ") || "?"} could not be reached within ${timeoutMs} ms (connectionLostTimeout)` +
      `${why.length > 0 ? `: ${why.join("; ")}` : ""}; the layer goes on retrying until it is closed`,
  );
}

/** Close a client: politely when it is connected, at once when it is not. */
export async function release(client: Redis): Promise<void> {
  if (client.status === "ready") {
    try {
      await client.quit();
      return;
    } catch {
      // fall through to a hard disconnect
    }
  }
  client.disconnect();
}
