/**
 * serveIpc(target): the parent process hosts one broker for its children,
 * which reach it with IpcChannelLayer (`ipc://`). The broker listens on a
 * Unix socket in a private temporary directory (mode 0700) with a random
 * token; children learn both through Node's IPC channel (handshake.ts) and
 * then speak the broker protocol over the socket. When a child exits, its
 * sessions end and its process-local channels and memberships go at once.
 */
import { ChildProcess } from "node:child_process";
import type { Cluster, Worker as ClusterWorker } from "node:cluster";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessagePort, Worker } from "node:worker_threads";
import type { Broker, BrokerOptions } from "../protocol/broker.js";
import type { BrokerStats } from "../protocol/ops.js";
import { BrokerServer } from "../transport/broker-server.js";
import { isWhere, TAG, type HereMessage } from "./handshake.js";

/** What serveIpc serves: the cluster module (every worker, now and later), one cluster worker, a forked child, a worker thread, or a MessagePort. */
export type IpcTarget = Cluster | ClusterWorker | ChildProcess | Worker | MessagePort;

/** Broker options (engine limits, heartbeats, log); the token is made here. */
export type IpcServeOptions = Omit<BrokerOptions, "token">;

export interface IpcServer {
  /** The broker the children share. */
  readonly broker: Broker;
  /** The Unix socket children are sent to, in a private temporary directory removed by close() or at exit. */
  readonly socketPath: string;
  /** Resolves once the broker listens (children asking earlier are answered then). */
  readonly ready: Promise<void>;
  /** Serve one more target with the same broker. */
  add(target: IpcTarget): void;
  stats(): BrokerStats;
  /** Stop serving: children's layers lose their connection; every listener and file is released. Idempotent. */
  close(): Promise<void>;
}

/** One child as the parent sees it: how to hear it, answer it, and learn that it is gone. */
interface Endpoint {
  listen(onMessage: (m: unknown) => void, onGone: () => void): () => void;
  reply(m: HereMessage): void;
}

/** Socket directories of servers not yet closed. */
const liveDirs = new Set<string>();
let exitHook = false;

export function serveIpc(target: IpcTarget, options: IpcServeOptions = {}): IpcServer {
  assertServable(target);
  const dir = mkdtempSync(join(tmpdir(), "channel-layers-ipc-"));
  const token = randomBytes(24).toString("base64url");
  const server = new BrokerServer({ ...options, token, listen: `unix://${join(dir, "broker.sock")}` });
  let path: string | undefined;
  let failure: string | undefined;
  const ready = server.listen().then(
    ([url]) => void (path = new URL(url!).pathname),
    (err: Error) => {
      failure = `the parent's IPC broker could not listen: ${err.message}`;
      throw err;
    },
  );
  ready.catch(() => {}); // reported to each asking child; `ready` still rejects for whoever awaits it
  liveDirs.add(dir);
  if (!exitHook) {
    // A parent that exits without close() still leaves no socket file behind (one listener for every server).
    exitHook = true;
    process.on("exit", () => {
      for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  const detachers = new Set<() => void>();
  let closed = false;

  function serve(endpoint: Endpoint): void {
    const instances = new Set<string>();
    const detach = endpoint.listen(
      (m) => {
        if (!isWhere(m)) return; // not ours: the user's own message
        // The broker refuses a bad instance id in hello anyway; it is never remembered here.
        if (server.broker.validInstanceId(m.instance)) instances.add(m.instance);
        const answer = (): void => {
          if (closed) endpoint.reply({ [TAG]: "here", id: m.id, error: "the parent's IPC broker was closed (serveIpc().close())" });
          else if (failure !== undefined) endpoint.reply({ [TAG]: "here", id: m.id, error: failure });
          else endpoint.reply({ [TAG]: "here", id: m.id, path, token });
        };
        ready.then(answer, answer);
      },
      () => {
        // The child is dead: nothing of it will come back, so no reconnect grace.
        for (const id of instances) server.broker.departed(id);
        detachers.delete(detach);
        detach();
      },
    );
    detachers.add(detach);
  }

  function add(t: IpcTarget): void {
    if (closed) throw new Error("serveIpc: add() after close()");
    assertServable(t);
    if (isCluster(t)) {
      for (const worker of Object.values(t.workers ?? {})) if (worker) serve(processEndpoint(worker, worker.process));
      const onFork = (worker: ClusterWorker): void => serve(processEndpoint(worker, worker.process));
      t.on("fork", onFork);
      detachers.add(() => t.off("fork", onFork));
    } else if (t instanceof ChildProcess) {
      serve(processEndpoint(t, t));
    } else if (t instanceof Worker) {
      serve(portEndpoint(t, "exit"));
    } else if (t instanceof MessagePort) {
      serve(portEndpoint(t, "close"));
    } else {
      serve(processEndpoint(t, t.process));
    }
  }

  add(target);
  return {
    broker: server.broker,
    socketPath: join(dir, "broker.sock"),
    ready,
    add,
    stats: () => server.stats(),
    async close() {
      if (!closed) {
        closed = true;
        for (const detach of detachers) detach();
        detachers.clear();
      }
      await server.close();
      liveDirs.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Refuse, before anything is started, what cannot be served. */
function assertServable(t: IpcTarget): void {
  if (isCluster(t)) {
    if (!t.isPrimary) throw new TypeError("serveIpc(cluster) belongs in the cluster primary; in a worker, use createChannelLayer(\"ipc://\")");
  } else if (t instanceof ChildProcess) {
    if (typeof t.send !== "function") {
      throw new TypeError("serveIpc: this child has no IPC channel; start it with child_process.fork(), or with 'ipc' in its stdio");
    }
  } else if (!(t instanceof Worker) && !(t instanceof MessagePort) && !isClusterWorker(t)) {
    throw new TypeError("serveIpc: the target must be the node:cluster module, a cluster worker, a ChildProcess, a worker_threads Worker or a MessagePort");
  }
}

function isCluster(t: IpcTarget): t is Cluster {
  return typeof (t as Cluster).setupPrimary === "function" && "workers" in t;
}

function isClusterWorker(t: IpcTarget): t is ClusterWorker {
  return typeof (t as ClusterWorker).isDead === "function" && (t as ClusterWorker).process instanceof ChildProcess;
}

/** A forked child or cluster worker: messages on `source` (the worker or the ChildProcess), gone on exit. */
function processEndpoint(source: ClusterWorker | ChildProcess, child: ChildProcess): Endpoint {
  return {
    listen(onMessage, onGone) {
      // Already dead: it never asked, so there is nothing to clean up.
      if (child.exitCode !== null || child.signalCode !== null) return () => {};
      source.on("message", onMessage);
      child.once("exit", onGone);
      return () => {
        source.off("message", onMessage);
        child.off("exit", onGone);
      };
    },
    reply(m) {
      // With a callback, a child that went away meanwhile is not an 'error' event.
      if (child.connected) child.send(m, () => {});
    },
  };
}

/** A worker thread (gone on exit) or a MessagePort (gone on close). */
function portEndpoint(port: Worker | MessagePort, goneEvent: "exit" | "close"): Endpoint {
  return {
    listen(onMessage, onGone) {
      port.on("message", onMessage);
      port.once(goneEvent, onGone);
      return () => {
        port.off("message", onMessage);
        port.off(goneEvent, onGone);
      };
    },
    reply(m) {
      port.postMessage(m);
    },
  };
}
