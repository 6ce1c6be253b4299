/**
 * A private Redis Cluster (3 masters + 3 replicas) and a private Sentinel
 * setup, on free loopback ports in a temp dir, started and stopped by the
 * tests that use them (never the shared Redis on 6379).
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort } from "./own-redis.js";
import { waitFor } from "../wait.js";

const run = promisify(execFile);

/** Milliseconds a cluster node may be silent before its replica takes over: short, so a failover test is quick. */
const NODE_TIMEOUT_MS = 1000;

interface Node {
  port: number;
  child: ChildProcess | undefined;
  args: string[];
}

/**
 * Every server this process started and has not stopped, with the temp dirs:
 * killed and removed when the process exits before stop() ran (an exception,
 * or a bench interrupted with Ctrl-C, which exits through process.exit), so
 * no redis-server outlives the process that owns it.
 */
const running = new Set<ChildProcess>();
const dirs = new Set<string>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function spawnServer(node: Node, dir: string): Promise<void> {
  const child = spawn("redis-server", node.args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  node.child = child;
  running.add(child);
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`redis-server on ${node.port} did not start: ${out}`)), 10_000);
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`redis-server on ${node.port} exited with ${code}: ${out}`)));
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("Ready to accept connections") || out.includes("Sentinel ID is")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.removeAllListeners("exit");
  child.once("exit", () => running.delete(child));
  child.stdout!.removeAllListeners("data");
  child.stdout!.resume();
  child.stderr!.resume();
}

async function stopServer(node: Node): Promise<void> {
  const child = node.child;
  node.child = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

async function query<T>(port: number, f: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    return await f(r);
  } finally {
    r.disconnect();
  }
}

export class OwnCluster {
  private constructor(
    private readonly dir: string,
    readonly nodes: Node[],
  ) {}

  /**
   * Three masters, each with `replicas` replicas (default 1: six nodes),
   * `redis-cli --cluster create … --cluster-replicas N`, and wait until every
   * slot is served. Without replicas there is no failover (the bench's
   * attribution row: what replication costs on this machine).
   */
  static async start(options: { replicas?: 0 | 1 } = {}): Promise<OwnCluster> {
    const replicas = options.replicas ?? 1;
    const dir = await mkdtemp(join(tmpdir(), "chl-cluster-"));
    dirs.add(dir);
    const nodes: Node[] = [];
    for (let i = 0; i < 3 * (1 + replicas); i++) {
      const port = await freePort();
      nodes.push({
        port,
        child: undefined,
        args: [
          "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
          "--cluster-config-file", `nodes-${port}.conf`, "--cluster-node-timeout", String(NODE_TIMEOUT_MS),
          // A replica may take over however long ago it last heard from its master (the test decides when to kill).
          "--cluster-replica-validity-factor", "0",
          "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir,
        ],
      });
    }
    const cluster = new OwnCluster(dir, nodes);
    try {
      await Promise.all(nodes.map((n) => spawnServer(n, dir)));
      await run("redis-cli", ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", String(replicas), "--cluster-yes"]);
      await cluster.waitHealthy(20_000);
      // A replica that has not synced yet will not take over: wait until every one has.
      await waitFor("every replica to sync", async () => {
        for (const node of nodes) {
          const info = await query(node.port, (r) => r.info("replication"));
          if (/role:slave/.test(info) && !/master_link_status:up/.test(info)) return false;
        }
        return true;
      }, { timeout: 20_000, interval: 100 });
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** `redis+cluster://` URL naming every node (a client needs only one to find the rest). */
  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`;
  }

  get seeds(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: "127.0.0.1", port: n.port }));
  }

  /** Until every live node says cluster_state:ok and all 16384 slots are assigned. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    await waitFor("cluster_state:ok", async () => {
      for (const node of this.nodes) {
        if (!node.child) continue;
        const info = await query(node.port, (r) => r.cluster("INFO"));
        if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
      }
      return true;
    }, { timeout: timeoutMs, interval: 100 });
  }

  /** Ports of the current masters, with the slot ranges each serves. */
  async masters(): Promise<Array<{ port: number; id: string; slots: Array<[number, number]> }>> {
    const live = this.nodes.find((n) => n.child)!;
    const text = (await query(live.port, (r) => r.cluster("NODES"))) as string;
    const out: Array<{ port: number; id: string; slots: Array<[number, number]> }> = [];
    for (const line of text.trim().split("\n")) {
      const f = line.split(" ");
      if (!f[2]!.includes("master") || f[2]!.includes("fail")) continue;
      const port = Number(/:(\d+)@/.exec(f[1]!)![1]);
      const slots = f.slice(8).filter((s) => /^\d/.test(s)).map((s) => {
        const [a, b] = s.split("-");
        return [Number(a), Number(b ?? a)] as [number, number];
      });
      out.push({ port, id: f[0]!, slots });
    }
    return out;
  }

  /** Run one command on the node on `port` (no redirect). */
  async command(port: number, ...args: Array<string | number>): Promise<unknown> {
    return query(port, (r) => r.call(String(args[0]), ...args.slice(1)));
  }

  /** The port of a replica of the master on `port`. */
  async replicaOf(port: number): Promise<number> {
    const live = this.nodes.find((n) => n.child)!;
    const text = (await query(live.port, (r) => r.cluster("NODES"))) as string;
    const lines = text.trim().split("\n").map((l) => l.split(" "));
    const id = lines.find((f) => f[1]!.startsWith(`127.0.0.1:${port}@`))![0];
    const replica = lines.find((f) => f[3] === id && f[2]!.includes("slave") && !f[2]!.includes("fail"));
    if (!replica) throw new Error(`no live replica of ${port}`);
    return Number(/:(\d+)@/.exec(replica[1]!)![1]);
  }

  /** Whether the node on `port` holds `key` itself (no redirect). */
  async exists(port: number, key: string): Promise<boolean> {
    // READONLY: a replica answers for its master's slots instead of redirecting.
    return (await query(port, async (r) => (await r.call("READONLY"), await r.call("EXISTS", key)))) === 1;
  }

  /** The master serving `slot`. */
  async masterOf(slot: number): Promise<{ port: number; id: string }> {
    const m = (await this.masters()).find((x) => x.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!m) throw new Error(`no master serves slot ${slot}`);
    return m;
  }

  /** Kill the master of `slot` and wait until its replica serves every slot again. */
  async killMasterOf(slot: number, timeoutMs = 15_000): Promise<number> {
    const { port } = await this.masterOf(slot);
    const node = this.nodes.find((n) => n.port === port)!;
    await stopServer(node);
    await waitFor(`a replica to take over slot ${slot}`, async () => (await this.masterOf(slot)).port !== port, { timeout: timeoutMs, interval: 100 });
    await this.waitHealthy(timeoutMs);
    return port;
  }

  /** Start a killed node again (it comes back as a replica of whoever took over). */
  async restart(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port)!;
    if (!node.child) await spawnServer(node, this.dir);
  }

  /**
   * Move `slot` to another master while traffic runs: MIGRATING/IMPORTING,
   * then MIGRATE of its keys a few at a time (clients meanwhile get ASK, then
   * MOVED), then SETSLOT NODE on every master.
   */
  async moveSlot(slot: number, pauseMs = 0): Promise<number> {
    const masters = await this.masters();
    const from = masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b))!;
    const to = masters.find((m) => m !== from)!;
    await query(to.port, (r) => r.cluster("SETSLOT", slot, "IMPORTING", from.id));
    await query(from.port, (r) => r.cluster("SETSLOT", slot, "MIGRATING", to.id));
    await query(from.port, async (r) => {
      for (;;) {
        const keys = (await r.cluster("GETKEYSINSLOT", slot, 5)) as string[];
        if (keys.length === 0) break;
        await r.migrate("127.0.0.1", to.port, "", 0, 5000, "KEYS", ...keys);
        if (pauseMs > 0) await new Promise((res) => setTimeout(res, pauseMs));
      }
    });
    for (const m of masters) await query(m.port, (r) => r.cluster("SETSLOT", slot, "NODE", to.id));
    return to.port;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map(stopServer));
    await rm(this.dir, { recursive: true, force: true });
    dirs.delete(this.dir);
  }
}

/** A master, a replica and three sentinels watching them as `mymaster`. */
export class OwnSentinels {
  readonly name = "mymaster";
  private constructor(
    private readonly dir: string,
    readonly servers: Node[],
    readonly sentinels: Node[],
  ) {}

  static async start(): Promise<OwnSentinels> {
    const dir = await mkdtemp(join(tmpdir(), "chl-sentinel-"));
    dirs.add(dir);
    const base = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir];
    const master: Node = { port: await freePort(), child: undefined, args: [] };
    master.args = ["--port", String(master.port), ...base];
    const replica: Node = { port: await freePort(), child: undefined, args: [] };
    replica.args = ["--port", String(replica.port), "--replicaof", "127.0.0.1", String(master.port), ...base];
    const sentinels: Node[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${port}.conf`);
      // A sentinel rewrites its config file: one each.
      await writeFile(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          `dir ${dir}`,
          `sentinel monitor mymaster 127.0.0.1 ${master.port} 2`,
          "sentinel down-after-milliseconds mymaster 1000",
          "sentinel failover-timeout mymaster 5000",
          "sentinel parallel-syncs mymaster 1",
          "",
        ].join("\n"),
      );
      // `redis-sentinel` is `redis-server --sentinel` (Debian ships the former in its own package).
      sentinels.push({ port, child: undefined, args: [conf, "--sentinel"] });
    }
    const setup = new OwnSentinels(dir, [master, replica], sentinels);
    try {
      await spawnServer(master, dir);
      await spawnServer(replica, dir);
      await waitFor("the replica to sync", async () => /master_link_status:up/.test(await query(replica.port, (r) => r.info("replication"))), { timeout: 10_000, interval: 100 });
      await Promise.all(sentinels.map((s) => spawnServer(s, dir)));
      await waitFor("the sentinels to see the replica and each other", async () => {
        for (const s of sentinels) {
          const replicas = (await query(s.port, (r) => r.call("SENTINEL", "REPLICAS", "mymaster"))) as unknown[];
          const others = (await query(s.port, (r) => r.call("SENTINEL", "SENTINELS", "mymaster"))) as unknown[];
          if (replicas.length < 1 || others.length < 2) return false;
        }
        return true;
      }, { timeout: 15_000, interval: 100 });
    } catch (err) {
      await setup.stop();
      throw err;
    }
    return setup;
  }

  get sentinelAddresses(): Array<{ host: string; port: number }> {
    return this.sentinels.map((s) => ({ host: "127.0.0.1", port: s.port }));
  }

  async masterPort(): Promise<number> {
    const live = this.sentinels.find((s) => s.child)!;
    const [, port] = (await query(live.port, (r) => r.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"))) as [string, string];
    return Number(port);
  }

  /** Kill the master and wait until the sentinels have promoted the replica. */
  async killMaster(timeoutMs = 20_000): Promise<number> {
    const port = await this.masterPort();
    await stopServer(this.servers.find((s) => s.port === port)!);
    await waitFor("the sentinels to promote the replica", async () => (await this.masterPort()) !== port, { timeout: timeoutMs, interval: 100 });
    return port;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.servers].map(stopServer));
    await rm(this.dir, { recursive: true, force: true });
    dirs.delete(this.dir);
  }
}
