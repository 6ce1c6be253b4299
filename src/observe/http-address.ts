/** HTTP listen addresses, apart from the server so that the CLI can check one without loading prom-client. */

/** Parse an HTTP listen address; a bare port binds to loopback. */
export function parseHttpAddress(text: string): { host: string; port: number } {
  const bare = /^\d+$/.exec(text);
  if (bare) return { host: "127.0.0.1", port: checkPort(text, Number(text)) };
  const m = /^(?:http:\/\/)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d+))?\/?$/.exec(text);
  if (!m) throw new TypeError(`"${text}" is not an HTTP listen address: use host:port, e.g. 127.0.0.1:9464`);
  if (m[2] === undefined) throw new TypeError(`"${text}" has no port: use host:port, e.g. 127.0.0.1:9464`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port: checkPort(text, Number(m[2])) };
}

function checkPort(text: string, port: number): number {
  if (port > 65535) throw new TypeError(`"${text}": a port is at most 65535`);
  return port;
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
