/**
 * Broker addresses: `tcp://host:port`, `tls://host:port`, `unix:///path.sock`.
 * The default binds to loopback on port 6741 (clear of Redis's 6379, 6380
 * and other common services).
 */

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 6741;
export const DEFAULT_LISTEN = `tcp://${DEFAULT_HOST}:${DEFAULT_PORT}`;

export type Address =
  | { kind: "tcp" | "tls"; host: string; port: number; url: URL }
  | { kind: "unix"; path: string; url: URL };

export function parseAddress(raw: string | URL): Address {
  let url: URL;
  try {
    url = typeof raw === "string" ? new URL(raw) : raw;
  } catch {
    throw new TypeError(`broker address ${JSON.stringify(raw)} is not a URL: use tcp://host:port, tls://host:port or unix:///path.sock`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme === "unix") {
    const path = decodeURIComponent(url.host ? `/${url.host}${url.pathname}` : url.pathname);
    if (path === "" || path === "/") throw new TypeError(`broker address ${url.href} has no socket path: use unix:///path/to/broker.sock`);
    return { kind: "unix", path, url };
  }
  if (scheme !== "tcp" && scheme !== "tls") {
    throw new TypeError(`broker address ${url.href}: unknown scheme "${scheme}:"; use tcp://, tls:// or unix://`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1") || DEFAULT_HOST;
  const port = url.port === "" ? DEFAULT_PORT : Number(url.port);
  return { kind: scheme, host, port, url };
}

/** The URL of an address, as logs and `listen()` report it. */
export function formatAddress(kind: Address["kind"], where: string | { address: string; port: number }): string {
  if (typeof where === "string") return `unix://${where}`;
  const host = where.address.includes(":") ? `[${where.address}]` : where.address;
  return `${kind}://${host}:${where.port}`;
}
