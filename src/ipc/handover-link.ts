/**
 * The child's Link: asks the parent (over Node's IPC channel) where its
 * broker listens, then carries the broker protocol over that Unix socket
 * (streamLink). Frames sent meanwhile wait, and the parent's one-time token
 * goes into the hello. No answer in time, or no parent any more, ends the
 * link with an error saying what to do; ProtocolLayer retries, and rejects
 * calls with ConnectionLostError past its connectTimeout.
 */
import { createConnection } from "node:net";
import type { Link, LinkHandlers } from "../protocol/link.js";
import { helloInstance } from "../protocol/decode.js";
import { setHelloToken } from "../protocol/encode.js";
import { streamLink } from "../transport/stream-link.js";
import { TAG } from "./handshake.js";
import type { ParentChannel } from "./parent.js";

export interface HandoverOptions {
  /** Milliseconds to wait for the parent's answer. */
  handshakeTimeout: number;
  /** Largest frame accepted from the broker, in bytes. */
  maxFrameBytes: number;
}

let lastQuestion = 0;

export function handoverLink(parent: ParentChannel, handlers: LinkHandlers, options: HandoverOptions): Link {
  let inner: Link | undefined;
  let queued: unknown[] = [];
  let over = false;
  let stopListening: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;

  const end = (err?: Error): void => {
    if (over) return;
    over = true;
    stopListening?.();
    clearTimeout(timer);
    queued = [];
    process.nextTick(() => handlers.onClosed(err));
  };

  /** The first frame is always hello: [Op.Hello, id, version, instanceId, token]. */
  const ask = (hello: unknown[]): void => {
    const why = parent.whyGone();
    if (why !== undefined) return end(new Error(why));
    const id = ++lastQuestion;
    timer = setTimeout(
      () =>
        end(new Error(
          `the parent process did not answer within ${options.handshakeTimeout} ms: ` +
            "it must call serveIpc(cluster | child | worker) from channel-layers before its children use ipc://",
        )),
      options.handshakeTimeout,
    );
    stopListening = parent.ask({ [TAG]: "where", id, instance: helloInstance(hello) }, (answer) => {
      if (answer.id !== id || over) return; // another layer's answer
      stopListening!();
      clearTimeout(timer);
      if (answer.error !== undefined || answer.path === undefined) return end(new Error(answer.error ?? "the parent gave no broker address"));
      setHelloToken(hello, answer.token ?? null);
      inner = streamLink(createConnection({ path: answer.path }), handlers, { maxFrameBytes: options.maxFrameBytes });
      const frames = queued;
      queued = [];
      inner.send(frames);
    });
  };

  return {
    send(frames, splitBytes) {
      if (inner !== undefined) return inner.send(frames, splitBytes);
      if (over) return;
      const first = queued.length === 0 && stopListening === undefined;
      for (const frame of frames) queued.push(frame);
      if (first) ask(frames[0] as unknown[]);
    },
    close() {
      if (inner !== undefined) inner.close();
      else end();
    },
  };
}
