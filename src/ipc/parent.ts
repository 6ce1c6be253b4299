/**
 * The child's side of Node's IPC channel to its parent: process.send for a
 * forked child or cluster worker, parentPort in a worker thread, or a
 * MessagePort the user hands over. Used only for the handshake.
 */
import { isMainThread, parentPort, type MessagePort } from "node:worker_threads";
import { ConnectionLostError } from "../errors.js";
import { isHere, type HereMessage, type WhereMessage } from "./handshake.js";

export interface ParentChannel {
  /** Why the parent cannot be asked any more, or undefined while it can. */
  whyGone(): string | undefined;
  /** Ask; every answer goes to `onAnswer` until the returned function stops listening. */
  ask(question: WhereMessage, onAnswer: (answer: HereMessage) => void): () => void;
}

export const NO_PARENT =
  "IpcChannelLayer (ipc://) needs a parent process that serves it, but this process has none: it was not started " +
  "by child_process.fork(), node:cluster or worker_threads. Start it from a parent that calls serveIpc(cluster | child | worker) " +
  "from channel-layers, or use another backend (memory://, unix://…, tcp://…)";

/** The channel to the parent; throws ConnectionLostError (saying what to do) when there is none. */
export function parentChannel(port?: MessagePort): ParentChannel {
  if (port !== undefined) return portChannel(port);
  if (!isMainThread && parentPort !== null) return portChannel(parentPort);
  if (typeof process.send === "function") return processChannel();
  throw new ConnectionLostError(NO_PARENT);
}

// One channel per port: each would otherwise add a 'close' listener that outlives its layer.
const portChannels = new WeakMap<MessagePort, ParentChannel>();

function portChannel(port: MessagePort): ParentChannel {
  let channel = portChannels.get(port);
  if (channel === undefined) portChannels.set(port, (channel = newPortChannel(port)));
  return channel;
}

function newPortChannel(port: MessagePort): ParentChannel {
  let closed = false;
  port.once("close", () => (closed = true));
  return {
    whyGone: () => (closed ? "the MessagePort to the parent was closed" : undefined),
    ask(question, onAnswer) {
      const listener = (m: unknown): void => void (isHere(m) && onAnswer(m));
      port.on("message", listener);
      port.postMessage(question);
      return () => port.off("message", listener);
    },
  };
}

function processChannel(): ParentChannel {
  return {
    whyGone: () => (process.connected ? undefined : "the parent process is gone (its IPC channel is closed)"),
    ask(question, onAnswer) {
      // Listening refs the IPC channel; the returned function lets it go again.
      const listener = (m: unknown): void => void (isHere(m) && onAnswer(m));
      process.on("message", listener);
      process.send!(question, undefined, undefined, () => {});
      return () => process.off("message", listener);
    },
  };
}
