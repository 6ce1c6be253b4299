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
import { describeChannelLayer } from "../../src/testing/index.js";

/** A Link over a MessagePort: frames go as structured clones, in batches. */
function portLink(port: MessagePort, handlers: LinkHandlers): Link {
  let open = true;
  port.on("message", (batch: unknown) => {
    if (!Array.isArray(batch)) return handlers.onMalformed(new Error("a port message must be a batch of frames"));
    for (const frame of batch) handlers.onFrame(frame);
  });
  port.once("close", () => {
    open = false;
    handlers.onClosed();
  });
  return {
    send: (frames) => open && port.postMessage(frames),
    close: () => port.close(),
  };
}

class PortLayer extends ProtocolLayer {
  constructor(broker: Broker, options?: ProtocolLayerOptions) {
    super(
      {
        address: "port",
        connect(handlers) {
          const { port1, port2 } = new MessageChannel();
          const serverLink = portLink(port2, {
            onFrame: (f) => session.onFrame(f),
            onMalformed: (err) => session.onMalformed(err),
            onClosed: () => session.onClosed(),
          });
          const session: ReturnType<Broker["open"]> = broker.open(serverLink, "port");
          return portLink(port1, handlers);
        },
      },
      options,
    );
  }
}

describe("over a MessagePort link", () => {
  const brokers = new Map<string, Broker>();
  afterAll(() => {
    for (const broker of brokers.values()) broker.close();
  });
  const make = (options?: LayerOptions): PortLayer => {
    resolveOptions(options);
    const key = JSON.stringify(options ?? {}, (_k, v: unknown) => (v instanceof RegExp ? String(v) : v === Infinity ? "inf" : v));
    let broker = brokers.get(key);
    if (broker === undefined) {
      broker = new Broker(options);
      brokers.set(key, broker);
    }
    return new PortLayer(broker, options);
  };
  describeChannelLayer("protocol over MessagePort", { shared: true, make });
});
