/**
 * The conformance suite calls layer methods in the test process; the layer
 * under test lives in a child (forked process or worker thread) whose parent,
 * this process, called serveIpc. ProxyLayer forwards each call to that real
 * IpcChannelLayer (fixtures/host.ts) and returns its outcome, error classes
 * included; an aborted receive is forwarded as an abort, and its outcome
 * (a message that won the race, or the abort) is what the caller gets.
 * Argument checks run in BaseLayer on both sides: the same code.
 */
import type { ChildProcess } from "node:child_process";
import type { MessagePort, Worker } from "node:worker_threads";
import { BaseLayer } from "../../src/base.js";
import type { Extension, GroupHistory, HistoryPosition, LayerOptions, Message, PresenceInfo, PresencePage, PresenceQuery } from "../../src/layer.js";
import { decodeMessage, encodeMessage } from "../../src/dependencies/msgpack.js";
import { errorFromWire } from "../../src/protocol/errors.js";

export type RpcRequest =
  | { rpc: "port"; key: string; port: MessagePort }
  | { rpc: "make"; lid: number; options: LayerOptions; key?: string }
  | { rpc: "call"; lid: number; cid: number; method: string; args: unknown[] }
  | { rpc: "abort"; cid: number };

export type RpcReply =
  | { rpc: "ready"; error?: undefined }
  | { rpc: "made"; lid: number; instanceId?: string; extensions?: Extension[]; error?: WireErr }
  | { rpc: "result"; cid: number; value?: unknown; error?: WireErr };

type WireErr = { name: string; message: string; code?: string; details?: unknown[] };

function rebuild(e: WireErr): Error {
  if (e.code !== undefined) return errorFromWire(e.code, e.message, e.details);
  const Class = e.name === "RangeError" ? RangeError : e.name === "TypeError" ? TypeError : Error;
  const err = new Class(e.message);
  if (Class === Error) err.name = e.name;
  return err;
}

/** The test process's end of the RPC channel to one host (a child or a worker thread). */
export class Host {
  private lastId = 0;
  private readonly waiting = new Map<number, (reply: RpcReply) => void>();
  readonly ready: Promise<void>;

  constructor(readonly peer: ChildProcess | Worker) {
    let onReady!: () => void;
    this.ready = new Promise((resolve) => (onReady = resolve));
    peer.on("message", (m: RpcReply) => {
      if (m.rpc === "ready") return onReady();
      if (m.rpc === "made") this.waiting.get(m.lid)?.(m);
      if (m.rpc === "result") this.waiting.get(m.cid)?.(m);
    });
  }

  post(m: RpcRequest, transfer?: MessagePort[]): void {
    if ("postMessage" in this.peer) this.peer.postMessage(m, transfer);
    else this.peer.send(m);
  }

  /** Send a request with a fresh id and wait for its reply. */
  request<R extends RpcReply>(make: (id: number) => RpcRequest): { id: number; reply: Promise<R> } {
    const id = ++this.lastId;
    const reply = new Promise<R>((resolve) => this.waiting.set(id, (r) => (this.waiting.delete(id), resolve(r as R))));
    this.post(make(id));
    return { id, reply };
  }

  async make(options: LayerOptions, key?: string): Promise<ProxyLayer> {
    await this.ready;
    const made = await this.request<Extract<RpcReply, { rpc: "made" }>>((lid) => ({ rpc: "make", lid, options, key })).reply;
    if (made.error) throw rebuild(made.error);
    return new ProxyLayer(this, made.lid, made.instanceId!, made.extensions!, options);
  }
}

export class ProxyLayer extends BaseLayer {
  protected override readonly wideInts = true;
  /** The child layer's id, so process-local names made here are the child's. */
  override readonly instanceId: string;

  constructor(
    private readonly host: Host,
    private readonly lid: number,
    instanceId: string,
    readonly extensions: readonly Extension[],
    options: LayerOptions,
  ) {
    super(options);
    this.instanceId = instanceId;
  }

  private async call(method: string, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    const { id, reply } = this.host.request<Extract<RpcReply, { rpc: "result" }>>((cid) => ({ rpc: "call", lid: this.lid, cid, method, args }));
    const onAbort = (): void => this.host.post({ rpc: "abort", cid: id });
    signal?.addEventListener("abort", onAbort, { once: true });
    const r = await reply;
    signal?.removeEventListener("abort", onAbort);
    // As in the real layer, calls ended by close() are told once close() is done.
    if (method !== "close" && this.closeCall !== undefined) await this.closeCall;
    if (r.error) throw signal?.aborted && r.error.name === "AbortError" ? signal.reason : rebuild(r.error);
    return r.value;
  }

  protected async doSend(channel: string, message: Message, priority: number | undefined): Promise<void> {
    await this.call("send", [channel, encodeMessage(message), priority]);
  }
  protected async doReceive(channel: string, signal: AbortSignal | undefined): Promise<Message> {
    return decodeMessage((await this.call("receive", [channel], signal)) as Uint8Array);
  }
  protected override readonly keepsPresence = true;
  protected async doGroupAdd(group: string, channel: string, presence: PresenceInfo | undefined): Promise<void> {
    await this.call("groupAdd", presence === undefined ? [group, channel] : [group, channel, encodeMessage(presence as Message)]);
  }
  presence(group: string, query?: PresenceQuery): Promise<PresencePage> {
    return this.readPresence(group, async () => decodeMessage((await this.call("presence", [group, query === undefined ? null : encodeMessage(query as Message)])) as Uint8Array) as unknown as PresencePage);
  }
  presenceCount(group: string): Promise<number> {
    return this.readPresence(group, async () => (await this.call("presenceCount", [group])) as number);
  }
  protected async doGroupDiscard(group: string, channel: string): Promise<void> {
    await this.call("groupDiscard", [group, channel]);
  }
  protected async doGroupSend(group: string, message: Message, priority: number | undefined, except: ReadonlySet<string> | undefined): Promise<void> {
    await this.call("groupSend", [group, encodeMessage(message), priority, except && [...except]]);
  }
  protected override async doGroupHistory(group: string, since: HistoryPosition | undefined, limit: number, channel: string | undefined): Promise<GroupHistory> {
    const options = { ...(since && { since }), ...(limit !== Infinity && { limit }), ...(channel !== undefined && { channel }) };
    return decodeMessage((await this.call("groupHistory", [group, options])) as Uint8Array) as unknown as GroupHistory;
  }
  protected async doFlush(): Promise<void> {
    await this.call("flush", []);
  }
  private closeCall: Promise<unknown> | undefined;
  protected async doClose(): Promise<void> {
    this.closeCall = this.call("close", []);
    await this.closeCall;
  }
}
