/**
 * IpcChannelLayer (`ipc://`): a ChannelLayer in a cluster worker, forked
 * child or worker thread, served by the engine its parent hosts with
 * serveIpc(). All protocol work is ProtocolLayer's, as for the networked
 * broker; this file only says how links are opened.
 */
import type { MessagePort } from "node:worker_threads";
import { clientFrameBytes } from "../protocol/frames.js";
import { ProtocolLayer, type ProtocolLayerOptions } from "../protocol/client.js";
import { handoverLink } from "./handover-link.js";
import { parentChannel } from "./parent.js";

export interface IpcLayerOptions extends Omit<ProtocolLayerOptions, "token"> {
  /** Ask the parent over this port (one it passed to serveIpc) rather than process.send or parentPort. */
  port?: MessagePort;
  /** Milliseconds to wait for the parent's answer before retrying. Default 2000. */
  handshakeTimeout?: number;
}

export class IpcChannelLayer extends ProtocolLayer {
  protected override readonly backendName: string = "ipc";
  /**
   * Throws ConnectionLostError at once when this process has no parent to ask.
   * Calls reject with ConnectionLostError when the parent stays unreachable
   * (never served, or died) past `connectTimeout` (default here 5000 ms).
   */
  constructor(options: IpcLayerOptions = {}) {
    const { port, handshakeTimeout = 2000, ...rest } = options;
    const parent = parentChannel(port);
    const maxFrameBytes = clientFrameBytes(rest.maxMessageBytes);
    super(
      { address: "ipc:// (the parent's serveIpc)", connect: (handlers) => handoverLink(parent, handlers, { handshakeTimeout, maxFrameBytes }) },
      { connectTimeout: 5000, ...rest },
    );
  }
}
