/**
 * One WebSocket frame for many sockets. A group send that a hundred consumers
 * forward unchanged gives a hundred equal payloads; the frame of the last
 * payload sent is kept, so the hundred sockets get one buffer, framed once
 * and written whole, as Socket.IO writes a broadcast. Sharing is decided on
 * the bytes themselves, after the consumer encoded them: a consumer that
 * sends something else gets its own frame, and no handler can tell a shared
 * frame from a fresh one (the buffer never reaches user code).
 *
 * Writing a prebuilt frame takes one `ws` internal, `sender.sendFrame`, the
 * way its author suggests for this (websockets/ws#617) and engine.io does; a
 * socket where it is missing, or busy with something of its own
 * (compression, a Blob being read), is written with `send()`.
 */
import { loadWs } from "../dependencies/load-on-use.js";

/** The last payload framed, per frame type: the cache holds at most these two frames. */
interface Last {
  payload: string | Uint8Array | undefined;
  /** The frame as `sendFrame` takes it: one buffer, header and payload. */
  list: [Buffer];
}

const text: Last = { payload: undefined, list: [Buffer.alloc(0)] };
const binary: Last = { payload: undefined, list: [Buffer.alloc(0)] };

function same(a: string | Uint8Array | undefined, b: string | Uint8Array): boolean {
  if (typeof b === "string" || typeof a === "string" || a === undefined) return a === b;
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/** The unmasked, final frame (RFC 6455 §5.2) of `payload`: a text frame for a string, binary otherwise. */
function frame(payload: string | Uint8Array): Buffer {
  const length = typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength;
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + length);
  out[0] = typeof payload === "string" ? 0x81 : 0x82;
  if (head === 2) out[1] = length;
  else if (head === 4) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(length), 2);
  }
  if (typeof payload === "string") out.write(payload, head, "utf8");
  else out.set(payload, head);
  return out;
}

/** `payload` framed, reusing the frame of the previous payload when it is the same. */
export function sharedFrame(payload: string | Uint8Array): [Buffer] {
  const last = typeof payload === "string" ? text : binary;
  if (!same(last.payload, payload)) {
    // A Uint8Array the caller may change later is kept as the copy inside the frame, not itself.
    last.list = [frame(payload)];
    last.payload = typeof payload === "string" ? payload : last.list[0].subarray(last.list[0].length - payload.byteLength);
  }
  return last.list;
}

/** The `ws` internals used here; absent on any other socket. */
interface WsSender {
  sendFrame?: (list: Buffer[]) => void;
  /** 0 while the sender is idle (ws' DEFAULT); otherwise it queues, and so must we. */
  _state?: number;
}

/**
 * For a `ws` socket that can take prebuilt frames, a function that writes one
 * (false when the socket cannot take it now: send the payload instead);
 * undefined for any other socket.
 */
export function frameWriter(socket: object): ((list: [Buffer]) => boolean) | undefined {
  const { WebSocket } = loadWs();
  if (!(socket instanceof WebSocket)) return undefined;
  const sender = (socket as unknown as { _sender?: WsSender })._sender;
  // A negotiated extension (permessage-deflate) would change the frames: none is offered by serve().
  if (socket.extensions !== "" || typeof sender?.sendFrame !== "function" || sender._state !== 0) return undefined;
  return (list) => {
    if (socket.readyState !== WebSocket.OPEN || sender._state !== 0) return false;
    sender.sendFrame!(list);
    return true;
  };
}
