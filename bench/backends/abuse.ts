/**
 * The `abuse` rows: the good client's pingpong round trips on a broker
 * alone, then under each attack of the issue-13 table (the attacker in its
 * own process), one row per attack. A fresh broker per row, so that one
 * attack's leftovers do not weigh on the next, and each row's "alone" is
 * measured on that broker just before its attack: the ratio is paired.
 *
 * The attacker runs at the same priority as the rest: at a lower one, on a
 * busy machine, it would hardly run, and the rows would show no attack at all.
 *
 *   npm run bench -- --backends abuse
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { RemoteChannelLayer } from "../../src/index.js";
import type { BenchBackend, ExtraResult } from "../types.js";
import { workloads } from "../workloads.js";
import { spawnBroker, stopBroker } from "./broker.js";

/** The attacks of bench/abuse-attacker.ts, in the table's order. */
const ATTACKS = ["amplification", "silent-sockets", "slowloris", "stats-top", "filling", "deaf-readers", "fan-out", "cache-filling"];

const ATTACKER = fileURLToPath(new URL("../abuse-attacker.ts", import.meta.url));

function startAttacker(attack: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ATTACKER, attack, String(port)], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("ready")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`attacker ${attack} exited with ${code}`)));
  });
}

/** Broker flags per attack, as the table's rows had them. */
const FLAGS: Record<string, string[]> = {
  "silent-sockets": ["--max-connections", "100"],
  // As in test/remote/abuse/fanout.test.ts: members of capacity 1. At the default 100, 50k members
  // keep 5M messages; a broker quick enough fills --max-stored-bytes within the row, and the good
  // client's own sends are then refused with BrokerFullError (the rule, but no latency to measure).
  "fan-out": ["--capacity", "1"],
};

async function row(attack: string, n: number): Promise<ExtraResult> {
  // 256 MiB of stored messages: the filling attack meets the bound in seconds.
  const flags = ["--max-stored-bytes", String(256 * 1024 * 1024), ...(FLAGS[attack] ?? [])];
  const { child, url } = await spawnBroker("tcp://127.0.0.1:0", flags);
  let attacker: ChildProcess | undefined;
  const layer = new RemoteChannelLayer(url);
  try {
    await workloads.pingpong(layer, 2000); // the JIT settles on both sides
    const alone = await workloads.pingpong(layer, n);
    attacker = await startAttacker(attack, Number(new URL(url).port));
    await new Promise((r) => setTimeout(r, 1000));
    const r = await workloads.pingpong(layer, n);
    return {
      workload: `abuse:${attack}`,
      n: r.ops,
      seconds: r.seconds,
      opsPerSec: r.ops / r.seconds,
      p50Ms: r.p50Ms!,
      p99Ms: r.p99Ms!,
      aloneOpsPerSec: Math.round(alone.ops / alone.seconds),
      p99AloneMs: alone.p99Ms!.toFixed(3),
      p99VsAlone: `${(r.p99Ms! / alone.p99Ms!).toFixed(1)}x`,
    };
  } finally {
    attacker?.kill("SIGKILL");
    await layer.close();
    await stopBroker(child);
  }
}

export const abuse: BenchBackend = {
  name: "abuse",
  optIn: true,
  available: async () => true,
  workloads: [],
  async run() {
    throw new Error("abuse has only its own rows");
  },
  async extras(quick) {
    const n = quick ? 2000 : 20_000;
    const rows: ExtraResult[] = [];
    // `ABUSE_ATTACKS=fan-out,cache-filling` runs only those rows.
    const only = process.env.ABUSE_ATTACKS?.split(",");
    for (const attack of ATTACKS) if (only === undefined || only.includes(attack)) rows.push(await row(attack, n));
    return rows;
  },
};
