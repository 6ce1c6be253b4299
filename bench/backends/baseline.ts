/**
 * The floor: a bare JS queue behind the same async interface, with no
 * validation, copy, expiry or capacity. What the memory layer adds on top of
 * this is what the layer costs.
 */
import type { ChannelLayer, Message } from "../../src/index.js";
import { CHANNELS_WORKLOADS } from "../types.js";
import { layerBackend } from "./layer.js";

class BareQueue {
  items: Message[] = [];
  head = 0;
  waiters: Array<(m: Message) => void> = [];
  push(m: Message): void {
    const w = this.waiters.shift();
    if (w) w(m);
    else this.items.push(m);
  }
  shift(): Message | undefined {
    if (this.head === this.items.length) return undefined;
    const m = this.items[this.head++]!;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return m;
  }
}

function bareLayer(): ChannelLayer {
  const queues = new Map<string, BareQueue>();
  const groups = new Map<string, Set<string>>();
  const q = (ch: string): BareQueue => {
    let queue = queues.get(ch);
    if (!queue) queues.set(ch, (queue = new BareQueue()));
    return queue;
  };
  const layer: ChannelLayer = {
    extensions: ["groups", "flush"],
    async send(ch, m) {
      q(ch).push(m);
    },
    receive(ch) {
      const queue = q(ch);
      const m = queue.shift();
      return m ? Promise.resolve(m) : new Promise((resolve) => queue.waiters.push(resolve));
    },
    async *messages(ch) {
      for (;;) yield await layer.receive(ch);
    },
    async newChannel(prefix = "specific") {
      return `${prefix}.bare!${Math.random().toString(36).slice(2)}`;
    },
    async groupAdd(g, ch) {
      let set = groups.get(g);
      if (!set) groups.set(g, (set = new Set()));
      set.add(ch);
    },
    async groupDiscard(g, ch) {
      groups.get(g)?.delete(ch);
    },
    async groupSend(g, m) {
      for (const ch of groups.get(g) ?? []) q(ch).push(m);
    },
    async flush() {
      queues.clear();
      groups.clear();
    },
    async close() {},
  };
  return layer;
}

export const baseline = layerBackend("baseline", bareLayer, { available: async () => true, workloads: CHANNELS_WORKLOADS });
