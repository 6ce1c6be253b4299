/**
 * The `Upgrade` of a real connection: an HTTP upgrade request that `ws`
 * completes into a WebSocket, or that is refused with a plain HTTP answer.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocketServer } from "ws";
import type { Upgrade } from "./websocket.js";

/** The subprotocol each accepted request chose; the server's `handleProtocols` answers the handshake with it. */
export const chosenSubprotocol = new WeakMap<IncomingMessage, string>();

export function httpUpgrade(wss: WebSocketServer, request: IncomingMessage, socket: Duplex, head: Buffer): Upgrade {
  return {
    accept(subprotocol, attach) {
      if (subprotocol !== undefined) chosenSubprotocol.set(request, subprotocol);
      wss.handleUpgrade(request, socket, head, attach);
    },
    refuse: (status, text) => refuse(socket, status, text),
    destroy: () => socket.destroy(),
    onDrop(listener) {
      socket.on("close", listener);
      return () => socket.removeListener("close", listener);
    },
  };
}

/** Answer an upgrade request with a plain HTTP error and drop the socket. */
export function refuse(socket: Duplex, status: number, text: string): void {
  if (socket.destroyed) return;
  socket.once("finish", () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
