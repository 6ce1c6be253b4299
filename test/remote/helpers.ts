/** Brokers for the remote tests: real BrokerServers on port 0 or a temp Unix socket. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerServer, type BrokerServerOptions, type LayerOptions } from "../../src/index.js";

export type Kind = "tcp" | "unix";

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "channel-layers-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

let sockets = 0;
/** A listen address of `kind` nobody else uses. */
export function listenUrl(kind: Kind, dir: string): string {
  return kind === "tcp" ? "tcp://127.0.0.1:0" : `unix://${join(dir, `b${sockets++}.sock`)}`;
}

export async function startBroker(options: BrokerServerOptions = {}): Promise<{ server: BrokerServer; url: string }> {
  const server = new BrokerServer({ listen: "tcp://127.0.0.1:0", ...options });
  const [url] = await server.listen();
  return { server, url: url! };
}

/** A key telling option sets apart (RegExps and Infinity included). */
function keyOf(options: LayerOptions): string {
  return JSON.stringify(options, (_k, v: unknown) => (v instanceof RegExp ? `re:${String(v)}` : v === Infinity ? "inf" : v));
}

/**
 * One broker per distinct set of layer options: the engine's expiry and
 * capacity are the broker's, so layers made with the same options share a
 * broker (and see each other's channels), as the conformance suite expects.
 */
export function brokerPool(kind: Kind): { urlFor(options?: LayerOptions): Promise<string>; close(): Promise<void> } {
  const dir = tempDir();
  const brokers = new Map<string, Promise<{ server: BrokerServer; url: string }>>();
  return {
    urlFor(options = {}) {
      const key = keyOf(options);
      let started = brokers.get(key);
      if (started === undefined) {
        started = startBroker({ ...options, listen: listenUrl(kind, dir.path) });
        brokers.set(key, started);
      }
      return started.then((b) => b.url);
    },
    async close() {
      const all = await Promise.allSettled(brokers.values());
      await Promise.all(all.map((r) => (r.status === "fulfilled" ? r.value.server.close() : undefined)));
      dir.remove();
    },
  };
}
