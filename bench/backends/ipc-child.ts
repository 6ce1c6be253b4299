/**
 * The ipc bench's child: runs each workload on an IpcChannelLayer served by
 * its parent (the bench process, which called serveIpc) and reports the
 * child's own measurement back. Messages without `cmd` (the layer's
 * handshake answers) are not for this listener.
 */
import { IpcChannelLayer } from "../../src/index.js";
import { WORKLOADS, type Workload } from "../types.js";
import { workloads } from "../workloads.js";

interface Command {
  cmd: "run" | "warmup";
  workload: Workload;
  n: number;
}

async function run(workload: Workload, n: number) {
  const layer = new IpcChannelLayer({ capacity: Infinity });
  try {
    return await workloads[workload](layer, n);
  } finally {
    await layer.close();
  }
}

process.on("message", (m: Partial<Command>) => {
  if (m.cmd === undefined) return;
  const work =
    m.cmd === "warmup"
      ? (async () => {
          // As the unix row warms its broker process up: a few rounds of every workload.
          for (let round = 0; round < 5; round++) for (const w of WORKLOADS) await run(w, w === "pingpong" || w === "request" ? 2000 : 10_000);
        })()
      : run(m.workload!, m.n!);
  work.then(
    (result) => process.send!({ result: result ?? null }),
    (err: Error) => process.send!({ error: err.stack ?? String(err) }),
  );
});
