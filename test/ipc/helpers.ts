/** Children for the IPC tests: forked processes and worker threads running the fixtures (compiled: test/children.ts). */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MessageChannel, Worker } from "node:worker_threads";
import { serveIpc, type IpcServer, type LayerOptions } from "../../src/index.js";
import { resolveOptions } from "../../src/options/layer-options.js";
import type { TestClock } from "../../src/testing/index.js";
import { childEntry, forkChild } from "../children.js";
import { Host, type ProxyLayer } from "./proxy.js";

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

export function forkTs(name: string, args: string[] = [], serialization: "json" | "advanced" = "json"): ChildProcess {
  return forkChild(fixture(name), args, { serialization, stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

/** A worker thread running a fixture: its bundle, or the source through boot.mjs (worker threads on Node 20 ignore `--import tsx`). */
export function workerTs(name: string, data: Record<string, unknown> = {}): Worker {
  const { file, execArgv } = childEntry(fixture(name));
  if (execArgv.length === 0) return new Worker(file, { workerData: data });
  return new Worker(fixture("boot.mjs"), { workerData: { ...data, file: pathToFileURL(file).href } });
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** A key telling option sets apart (RegExps and Infinity included). */
function keyOf(options: LayerOptions): string {
  return JSON.stringify(options, (_k, v: unknown) => (v instanceof RegExp ? `re:${String(v)}` : v === Infinity ? "inf" : v));
}

export interface ProxyPool {
  make(options?: LayerOptions): Promise<ProxyLayer>;
  close(): Promise<void>;
}

/**
 * Layers for the conformance suite, living in children of this process. The
 * engine's limits are the parent's, so each distinct option set gets its own
 * serveIpc: for processes, one forked child per option set; for threads, one
 * worker with a MessagePort per option set (serveIpc serves the port).
 */
/** Layers in children of one kind, each set of options served by its own broker here; `clock`, when given, is every broker's. */
export function proxyPool(kind: "fork" | "thread", clock?: TestClock): ProxyPool {
  const servers: IpcServer[] = [];
  const hosts = new Map<string, Promise<{ host: Host; key?: string }>>();
  const children: ChildProcess[] = [];
  let worker: Worker | undefined;
  let workerHost: Host | undefined;

  function hostFor(options: LayerOptions): Promise<{ host: Host; key?: string }> {
    const key = keyOf(options);
    let found = hosts.get(key);
    if (found === undefined) {
      if (kind === "fork") {
        const child = forkTs("host.ts", [], "advanced");
        children.push(child);
        servers.push(serveIpc(child, { ...options, clock }));
        found = Promise.resolve({ host: new Host(child) });
      } else {
        worker ??= workerTs("host.ts");
        workerHost ??= new Host(worker);
        const { port1, port2 } = new MessageChannel();
        servers.push(serveIpc(port1, { ...options, clock }));
        workerHost.post({ rpc: "port", key, port: port2 }, [port2]);
        found = Promise.resolve({ host: workerHost, key });
      }
      hosts.set(key, found);
    }
    return found;
  }

  return {
    make(options = {}) {
      resolveOptions(options); // bad options throw at once, as every constructor does
      return hostFor(options).then(({ host, key }) => host.make(options, key));
    },
    async close() {
      for (const child of children) child.kill();
      await Promise.all(children.map(exited));
      await worker?.terminate();
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
