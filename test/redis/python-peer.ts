/**
 * A real channels_redis layer in a Python child process (Debian's
 * python3-channels-redis under /usr/bin/python3), driven line by line through
 * test/redis/peer.py. Tests fail, not skip, when Python or the module is missing.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Message, MessageValue } from "../../src/index.js";

export const PYTHON = process.env.CHANNELS_PYTHON ?? "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./peer.py", import.meta.url));

export interface PeerConfig {
  hosts: string[];
  prefix: string;
  expiry?: number;
  capacity?: number;
  channel_capacity?: Record<string, number>;
  symmetric_encryption_keys?: string[];
}

/** JSON with tags for what JSON cannot say (see peer.py). */
type Tagged = null | boolean | number | string | Tagged[] | { [key: string]: Tagged };

export function toTagged(v: MessageValue): Tagged {
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString("base64") };
  if (typeof v === "bigint") return { $int: v.toString() };
  if (typeof v === "number") return Number.isInteger(v) ? (Number.isSafeInteger(v) ? v : { $int: BigInt(v).toString() }) : { $float: v };
  if (Array.isArray(v)) return v.map(toTagged);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toTagged(x)]));
  return v;
}

export function fromTagged(v: Tagged): MessageValue {
  if (Array.isArray(v)) return v.map(fromTagged);
  if (v !== null && typeof v === "object") {
    if (typeof v.$bytes === "string") return Buffer.from(v.$bytes, "base64");
    if (typeof v.$int === "string") return BigInt(v.$int);
    if (typeof v.$float === "number") return v.$float;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromTagged(x)]));
  }
  return v;
}

export class PythonPeer {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = "";

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly clientPrefix: string,
  ) {}

  /** `script`: another driver with the same line protocol (test/pubsub/peer.py drives the pubsub layer). */
  static start(config: PeerConfig | Record<string, unknown>, script = SCRIPT): Promise<PythonPeer> {
    const child = spawn(PYTHON, [script, JSON.stringify(config)], { stdio: ["pipe", "pipe", "pipe"] });
    return new Promise((resolve, reject) => {
      let peer: PythonPeer | undefined;
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (peer) peer.stderr += d.toString();
      });
      child.once("error", reject);
      child.once("exit", (code) => {
        const err = new Error(`python peer exited (code ${code}): ${stderr}`);
        if (!peer) reject(err);
        else for (const p of peer.pending.values()) p.reject(err);
      });
      createInterface({ input: child.stdout }).on("line", (line) => {
        const msg = JSON.parse(line) as { ready?: boolean; client_prefix?: string; id?: number; result?: unknown; error?: string };
        if (msg.ready) {
          peer = new PythonPeer(child, msg.client_prefix!);
          resolve(peer);
          return;
        }
        const p = peer?.pending.get(msg.id!);
        if (!p) return;
        peer!.pending.delete(msg.id!);
        if (msg.error !== undefined) p.reject(Object.assign(new Error(`python: ${msg.error}`), { python: msg.error }));
        else p.resolve(msg.result);
      });
    });
  }

  call(op: string, args: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(JSON.stringify({ id, op, ...args }) + "\n");
    });
  }

  newChannel(prefix = "specific"): Promise<string> {
    return this.call("new_channel", { prefix }) as Promise<string>;
  }

  send(channel: string, message: Message): Promise<unknown> {
    return this.call("send", { channel, message: toTagged(message) });
  }

  async receive(channel: string, timeout = 5): Promise<Message> {
    return fromTagged((await this.call("receive", { channel, timeout })) as Tagged) as Message;
  }

  groupAdd(group: string, channel: string): Promise<unknown> {
    return this.call("group_add", { group, channel });
  }

  groupSend(group: string, message: Message): Promise<unknown> {
    return this.call("group_send", { group, message: toTagged(message) });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.stdin.end(JSON.stringify({ op: "close" }) + "\n");
    await exited;
  }
}
