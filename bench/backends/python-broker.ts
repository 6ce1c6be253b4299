/**
 * `python-broker`: the Python workloads of `python-redis` (bench/python/layer_bench.py)
 * on this repository's Python layer, channel_layers.BrokerChannelLayer, against
 * `channel-layers serve` over TCP: Django's side of a deployment without Redis.
 */
import type { ChildProcess } from "node:child_process";
import type { BenchBackend } from "../types.js";
import { spawnBroker, stopBroker, warmUpBroker } from "./broker.js";
import { pythonBackend } from "./python.js";

/** As python-redis: long enough that nothing expires while Python fills the pipeline. */
const EXPIRY = 3600;

let broker: { child: ChildProcess; url: string } | undefined;

// Capped as python-redis is, so that the two rows measure the same runs.
const python = pythonBackend("python-broker", "broker", () => ["--url", broker!.url], 20_000);

export const pythonBroker: BenchBackend = {
  ...python,
  async start() {
    // No capacity limit, as for tcp: pipeline sends all its messages before it receives any.
    broker = await spawnBroker("tcp://127.0.0.1:0", ["--capacity", "inf", "--expiry", String(EXPIRY)]);
    await warmUpBroker(broker.url);
  },
  async stop() {
    if (broker) await stopBroker(broker.child);
    broker = undefined;
  },
};
