/**
 * RemoteChannelLayer: a ChannelLayer served by a broker (`channel-layers
 * serve` or a BrokerServer) over TCP, TLS or a Unix socket. All the protocol
 * work is ProtocolLayer's; this file only opens sockets.
 */
import { createConnection, isIP } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { clientFrameBytes } from "../protocol/frames.js";
import { ProtocolLayer, type Connector, type ProtocolLayerOptions } from "../protocol/client.js";
import { parseAddress } from "./address.js";
import { streamLink } from "./stream-link.js";

export interface RemoteLayerOptions extends ProtocolLayerOptions {
  /** For tls:// — passed to node:tls (ca, cert, key, rejectUnauthorized, servername, …). */
  tls?: ConnectionOptions;
}

export class RemoteChannelLayer extends ProtocolLayer {
  /** The broker's address, without any token. */
  readonly url: string;

  /**
   * @param url `tcp://host:port`, `tls://host:port` or `unix:///path.sock`; a
   *   token may also be given as the URL's password (`tcp://:secret@host:port`).
   */
  constructor(url: string, options: RemoteLayerOptions = {}) {
    const address = parseAddress(url);
    const shown = new URL(address.url.href);
    shown.username = shown.password = "";
    shown.search = "";
    const token = options.token ?? (address.url.password ? decodeURIComponent(address.url.password) : undefined);
    const maxFrameBytes = clientFrameBytes(options.maxMessageBytes);
    const connector: Connector = {
      address: shown.href,
      connect(handlers) {
        const socket =
          address.kind === "unix"
            ? createConnection({ path: address.path })
            : address.kind === "tcp"
              ? createConnection({ host: address.host, port: address.port })
              : tlsConnect({
                host: address.host,
                port: address.port,
                // SNI carries host names only (RFC 6066); an IP address is verified against the certificate's IP SANs.
                ...(isIP(address.host) === 0 ? { servername: address.host } : {}),
                ...options.tls,
              });
        return streamLink(socket, handlers, { maxFrameBytes });
      },
    };
    super(connector, { ...options, token });
    this.url = shown.href;
  }
}
