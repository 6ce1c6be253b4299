/**
 * The protocol core is transport-agnostic: the same client core and broker
 * session, linked by a MessagePort instead of a socket, pass the whole
 * conformance suite. (This is the seam the IPC backend plugs into.)
 */
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterAll, describe } from "vitest";
import type { LayerOptions } from "../../src/index.js";
import { resolveOptions } from "../../src/options/layer-options.js";
import { Broker } from "../../src/protocol/broker.js";
import { ProtocolLayer, type ProtocolLayerOptions } from "../../src/protocol/client.js";
import type { Link, LinkHandlers } from "../../src/protocol/link.js";
import { describeChannelLayer, TestClock } from "../../src/testing/index.js";

/** Batches posted on the links of one MessageChannel and not yet handled at the other end. */
interface InFlight {
  batches: number;
}
/** The counts of the open channels, and how many batches were posted in all. */
const channels = new Set<InFlight>();
let posted = 0;

/** A Link over a MessagePort: frames go as structured clones, in batches. */
function portLink(port: MessagePort, handlers: LinkHandlers, inFlight: InFlight): Link {
  let open = true;
  port.on("message", (batch: unknown) => {
    inFlight.batches--;
    if (!Array.isArray(batch)) return handlers.onMalformed(new Error("a port message must be a batch of frames"));
    for (const frame of batch) handlers.onFrame(frame);
  });
  port.once("close", () => {
    open = false;
    channels.delete(inFlight);
    handlers.onClosed();
  });
  return {
    send: (frames) => {
      if (!open) return false;
      inFlight.batches++;
      posted++;
      return port.postMessage(frames);
    },
    close: () => port.close(),
  };
}

/**
 * Nothing is pending: no batch is on its way on any link, and none was posted
 * for two turns of the event loop (work a client or the broker put off to the
 * next turn has been done). Every message a channel holds has then reached a
 * receive waiting there, since client and broker both act on what arrives
 * before the turn ends.
 */
async function settle(): Promise<void> {
  for (let quiet = 0, turns = 0; quiet < 2; turns++) {
    if (turns > 10_000) throw new Error("the links never went quiet");
    const before = posted;
    await new Promise((resolve) => setImmediate(resolve));
    const idle = posted === before && [...channels].every((c) => c.batches === 0);
    quiet = idle ? quiet + 1 : 0;
  }
}

class PortLayer extends ProtocolLayer {
  constructor(broker: Broker, options?: ProtocolLayerOptions) {
    super(
      {
        address: "port",
        connect(handlers) {
          const { port1, port2 } = new MessageChannel();
          const inFlight: InFlight = { batches: 0 };
          channels.add(inFlight);
          const serverLink = portLink(port2, {
            onFrame: (f) => session.onFrame(f),
            onMalformed: (err) => session.onMalformed(err),
            onClosed: () => session.onClosed(),
          }, inFlight);
          const session: ReturnType<Broker["open"]> = broker.open(serverLink, "port");
          return portLink(port1, handlers, inFlight);
        },
      },
      options,
    );
  }
}

describe("over a MessagePort link", () => {
  const brokers = new Map<string, Broker>();
  // Every broker reads it: expiry cases move it instead of waiting.
  const clock = new TestClock();
  afterAll(() => {
    for (const broker of brokers.values()) broker.close();
  });
  const make = (options?: LayerOptions): PortLayer => {
    resolveOptions(options);
    const key = JSON.stringify(options ?? {}, (_k, v: unknown) => (v instanceof RegExp ? String(v) : v === Infinity ? "inf" : v));
    let broker = brokers.get(key);
    if (broker === undefined) {
      broker = new Broker({ ...options, clock });
      brokers.set(key, broker);
    }
    return new PortLayer(broker, options);
  };
  describeChannelLayer("protocol over MessagePort", { shared: true, make, settle, clock });
});
