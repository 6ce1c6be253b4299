import type { ChannelLayer, LayerOptions, Message } from "../../index.js";
import { vitest } from "../vitest.js";

/** One turn of the event loop. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves once everything `layer`'s earlier calls started has taken effect in
 * the backend: a message a channel holds has reached a receive waiting there.
 * (ChannelLayerSuiteOptions.settle.)
 */
export type Settle = (layer: ChannelLayer) => Promise<void>;

const isAbort = (err: unknown): boolean => (err as Error)?.name === "TimeoutError" || (err as Error)?.name === "AbortError";

/**
 * The next message of `channel`, or undefined when it holds none. With
 * `settle`, the receive is withdrawn once the layer has settled (the backend
 * says nothing is pending); without it, after `ms` of wall clock.
 */
export async function tryReceive(layer: ChannelLayer, channel: string, ms = 60, settle?: Settle): Promise<Message | undefined> {
  const controller = new AbortController();
  const received = layer.receive(channel, { signal: settle === undefined ? AbortSignal.timeout(ms) : controller.signal });
  const outcome = received.catch((err: unknown) => {
    if (isAbort(err)) return undefined;
    throw err;
  });
  if (settle !== undefined) {
    try {
      await settle(layer);
    } catch (err) {
      void outcome.catch(() => undefined); // what the withdrawn receive says is moot: settle's failure is the news
      throw err;
    } finally {
      controller.abort();
    }
  }
  return outcome;
}

/** How long a receive may take when a message is expected: only a failing backend waits this long. */
export const FULL_WAIT_MS = 2000;

/** How the suite waits on a target: its settle() and clock when it gives them, the wall clock otherwise. */
export interface Timing {
  settle?: Settle;
  /** The clock the target's layers read (a TestClock): expiry and rate-limit cases move it instead of sleeping. */
  clock?: { advance(ms: number): void };
}

export interface Waits {
  /** `ms` of the layers' time: the target's clock moves; without one, `ms + slackMs` of wall clock pass. */
  elapse: (ms: number, slackMs?: number) => Promise<void>;
  /** What `layer`'s earlier calls started has taken effect (a receive is waiting in the backend): settle(), or `ms` of wall clock. */
  settled: (layer: ChannelLayer, ms: number) => Promise<void>;
  /** tryReceive above, settling when the target can. */
  tryReceive: (layer: ChannelLayer, channel: string, ms?: number) => Promise<Message | undefined>;
  /** `channel` holds nothing (the test fails otherwise). */
  expectEmpty: (layer: ChannelLayer, channel: string, ms?: number) => Promise<void>;
  /**
   * Everything `channel` holds now, in order. The first `expected` receives may
   * take up to FULL_WAIT_MS (only a failing backend waits that long), so that a
   * message slow to arrive on a loaded machine is not read as none; the rest
   * must come at once.
   */
  drain: (layer: ChannelLayer, channel: string, expected?: number) => Promise<Message[]>;
}

export function waitsFor({ settle, clock }: Timing): Waits {
  const waits: Waits = {
    elapse: async (ms, slackMs = 0) => {
      if (clock === undefined) return sleep(ms + slackMs);
      clock.advance(ms);
    },
    settled: (layer, ms) => (settle === undefined ? sleep(ms) : settle(layer)),
    tryReceive: (layer, channel, ms) => tryReceive(layer, channel, ms, settle),
    expectEmpty: async (layer, channel, ms) => {
      vitest("expectEmpty").expect(await waits.tryReceive(layer, channel, ms)).toBeUndefined();
    },
    drain: async (layer, channel, expected = 0) => {
      const out: Message[] = [];
      while (out.length < expected) {
        const m = await tryReceive(layer, channel, FULL_WAIT_MS);
        if (m === undefined) return out; // fewer than expected: the case's assertion shows which
        out.push(m);
      }
      for (let m = await waits.tryReceive(layer, channel); m; m = await waits.tryReceive(layer, channel)) out.push(m);
      return out;
    },
  };
  return waits;
}

/** The wall-clock helpers, for tests of layers that cannot settle. */
const wallClock = waitsFor({});
export const expectEmpty = wallClock.expectEmpty;
export const drain = wallClock.drain;

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
