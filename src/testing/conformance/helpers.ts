import type { ChannelLayer, LayerOptions, Message } from "../../index.js";
import { vitest } from "../vitest.js";

/** One turn of the event loop. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Receive with a deadline; undefined when nothing came. */
export async function tryReceive(layer: ChannelLayer, channel: string, ms = 60): Promise<Message | undefined> {
  try {
    return await layer.receive(channel, { signal: AbortSignal.timeout(ms) });
  } catch (err) {
    if ((err as Error).name === "TimeoutError" || (err as Error).name === "AbortError") return undefined;
    throw err;
  }
}

export async function expectEmpty(layer: ChannelLayer, channel: string, ms = 60): Promise<void> {
  vitest("expectEmpty").expect(await tryReceive(layer, channel, ms)).toBeUndefined();
}

/** Drain everything currently in `channel`. */
export async function drain(layer: ChannelLayer, channel: string, ms = 60): Promise<Message[]> {
  const out: Message[] = [];
  for (let m = await tryReceive(layer, channel, ms); m; m = await tryReceive(layer, channel, ms)) out.push(m);
  return out;
}

let counter = 0;
/** A channel or group name no other test uses (shared backends keep state between tests). */
export function fresh(base: string): string {
  return `${base}-${process.pid}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
}

/** A `make` whose layers are all closed after each test. */
export function closedAfterEach(
  factory: (options?: LayerOptions) => ChannelLayer | Promise<ChannelLayer>,
): (options?: LayerOptions) => Promise<ChannelLayer> {
  const open: ChannelLayer[] = [];
  vitest("closedAfterEach").afterEach(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
  });
  return async (options) => {
    const layer = await factory(options);
    open.push(layer);
    return layer;
  };
}
