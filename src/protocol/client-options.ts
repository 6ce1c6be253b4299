/**
 * A broker client's options, checked once when the layer is made, and the
 * broker's settings as its hello tells them: expiry and capacity are the
 * broker's, so a layer given other values explicitly is told so once.
 */
import type { LayerOptions } from "../layer.js";
import { delayOption, positiveOrOff } from "../options/positive-option.js";
import { MAX_RECEIVE_BATCH, type HelloInfo } from "./ops.js";

export interface ProtocolLayerOptions extends LayerOptions {
  /** Shared secret the broker requires, if it requires one. */
  token?: string;
  /** Milliseconds calls wait for an unreachable broker before rejecting with ConnectionLostError. Default 10,000. */
  connectTimeout?: number;
  /** Milliseconds between heartbeats; the broker is presumed gone after 3 silent ones. Default 5000. */
  heartbeatInterval?: number;
  /** Longest wait between reconnect attempts, in milliseconds. Default 2000. */
  maxReconnectDelay?: number;
  /**
   * Most messages a channel's standing receive brings ahead of the callers
   * while they receive in a tight loop; unclaimed ones go back within the
   * tick. 0 turns it off. Default 32.
   */
  prefetch?: number;
  /**
   * Milliseconds a channel stays watched after a receive on it was served and
   * nobody waits: a message that arrives meanwhile (at most one is held) goes
   * to the next receive without a request, or back to the channel's head when
   * the linger ends or the layer closes. 0 turns it off. Default 10.
   */
  receiveLinger?: number;
  /**
   * Report what receives took once per turn of the event loop instead of
   * before each receive resolves. A receive loop then writes about once per
   * prefetch window instead of once per message; the trade is the name: a
   * process killed mid-turn may have messages it already handed to
   * application code (up to the prefetch window per channel) handed to
   * another consumer too (docs/broker.md "Read-ahead and capacity"). Default
   * false: at most once, even across a crash.
   */
  redeliverOnCrash?: boolean;
}

/** The client's own options, checked. */
export interface ClientSettings {
  token: string | undefined;
  connectTimeout: number;
  maxReconnectDelay: number;
  heartbeatInterval: number;
  prefetch: number;
  receiveLinger: number;
  reportsPerTurn: boolean;
}

/** Check the client's own options (the layer's are BaseLayer's); throws what is wrong in the option's name. */
export function clientSettings(options: ProtocolLayerOptions): ClientSettings {
  if (options.token !== undefined && typeof options.token !== "string") throw new TypeError("token must be a string");
  const connectTimeout = delayOption(options.connectTimeout, "connectTimeout (ms)", 10_000);
  const maxReconnectDelay = delayOption(options.maxReconnectDelay, "maxReconnectDelay (ms)", 2000);
  const heartbeatInterval = delayOption(options.heartbeatInterval, "heartbeatInterval (ms)", 5000);
  const prefetch = options.prefetch ?? 32;
  if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch >= MAX_RECEIVE_BATCH) {
    throw new RangeError(`prefetch must be an integer from 0 to ${MAX_RECEIVE_BATCH - 1}, got ${String(prefetch)}`);
  }
  const receiveLinger = positiveOrOff(options.receiveLinger, "receiveLinger (ms)", 10);
  if (options.redeliverOnCrash !== undefined && typeof options.redeliverOnCrash !== "boolean") {
    throw new TypeError(`redeliverOnCrash must be true or false, got ${String(options.redeliverOnCrash)}`);
  }
  const reportsPerTurn = options.redeliverOnCrash === true;
  return { token: options.token, connectTimeout, maxReconnectDelay, heartbeatInterval, prefetch, receiveLinger, reportsPerTurn };
}

/** Layer options that are the broker's to set. */
const SETTINGS = ["expiry", "groupExpiry", "capacity"] as const;

/** The broker's settings a layer was given explicitly, to compare once with what its hello says. */
export class OwnSettings {
  private mine: Partial<Record<(typeof SETTINGS)[number], number>> | undefined;

  constructor(options: LayerOptions) {
    this.mine = { expiry: options.expiry, groupExpiry: options.groupExpiry, capacity: options.capacity };
  }

  /** The first hello: a warning names the settings the broker sets otherwise. */
  compare(broker: Partial<HelloInfo>, address: string): void {
    const mine = this.mine;
    this.mine = undefined;
    if (mine === undefined) return;
    const differ = SETTINGS.filter((key) => mine[key] !== undefined && broker[key] !== undefined && broker[key] !== mine[key]);
    if (differ.length === 0) return;
    process.emitWarning(
      `the broker at ${address} sets ${differ.map((k) => `${k}=${broker[k]}`).join(", ")}; ` +
        `this layer's ${differ.map((k) => `${k}=${mine[k]}`).join(", ")} has no effect (the broker's settings apply to every client)`,
      { code: "CHANNEL_LAYERS_BROKER_SETTINGS" },
    );
  }
}

/** The largest stream frame a broker's hello says it accepts (a positive integer), if it says. */
export function frameLimit(info: Partial<HelloInfo>): number | undefined {
  const limit = info.maxFrameBytes;
  return typeof limit === "number" && Number.isInteger(limit) && limit > 0 ? limit : undefined;
}
