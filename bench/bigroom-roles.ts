/** What the bigroom bench's consumers and sender do, in a child process or (memory) in the bench's own. */
import type { ChannelLayer } from "../src/index.js";

export interface BigroomCommand {
  cmd: "join" | "arm" | "send" | "close";
  group: string;
  members: number;
  k: number;
  from: number;
}

/** Wall-clock milliseconds, comparable across processes on one host. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

/** Make `count` `!` channels and add each to `group`. */
export async function joinGroup(layer: ChannelLayer, group: string, count: number): Promise<string[]> {
  const members = await Promise.all(Array.from({ length: count }, () => layer.newChannel("bigroom.")));
  for (let i = 0; i < members.length; i += 500) await Promise.all(members.slice(i, i + 500).map((m) => layer.groupAdd(group, m)));
  return members;
}

/**
 * Receive `k` messages (numbered 0…k-1) on every member; `done(i, at)` is
 * called when the last of these members got message i.
 */
export async function armRound(layer: ChannelLayer, members: string[], k: number, done: (i: number, at: number) => void): Promise<void> {
  const count = new Array<number>(k).fill(0);
  await Promise.all(
    members.map(async (channel) => {
      for (let j = 0; j < k; j++) {
        const m = await layer.receive(channel);
        const i = m.i as number;
        if (++count[i]! === members.length) done(i, wallMs());
      }
    }),
  );
}

/** Group sends of messages `from`…`from + k - 1`, one after another; resolves with when each began. */
export async function sendRound(layer: ChannelLayer, group: string, from: number, k: number): Promise<number[]> {
  const sent: number[] = [];
  for (let i = from; i < from + k; i++) {
    sent.push(wallMs());
    await layer.groupSend(group, { type: "bigroom.message", i, text: "hello room" });
  }
  return sent;
}
