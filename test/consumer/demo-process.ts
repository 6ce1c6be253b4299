/** The chat demo (examples/chat/server.ts) as its own process, as `npm run demo` runs it. */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { nodeArgs } from "../children.js";

const SERVER = fileURLToPath(new URL("../../examples/chat/server.ts", import.meta.url));

export interface DemoProcess {
  child: ChildProcess;
  /** The URL it printed. */
  url: string;
}

const running = new Set<ChildProcess>();

/** Start the demo server and read the URL it prints. */
export async function startDemo(env: Record<string, string>): Promise<DemoProcess> {
  const child = spawn(process.execPath, nodeArgs(SERVER), { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let out = "";
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /chat demo on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`demo exited with ${code} before printing its URL:\n${out}`)));
  });
  return { child, url };
}

/** Kill every demo process still running. */
export async function stopDemos(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      child.kill("SIGKILL");
      await once(child, "exit");
    }),
  );
}
