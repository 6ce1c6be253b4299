/**
 * Which `Host` names an HTTP server answers to (docs/security.md#host-names).
 *
 * DNS rebinding: a page on `evil.example` makes its name resolve to
 * 127.0.0.1, and the browser then sends that page's requests to a server on
 * this machine, with `Host: evil.example` and, being same-origin, no Origin
 * header at all. A server bound to loopback therefore answers only requests
 * that name it by a loopback name (or a name its user configured); a server
 * bound to any other address keeps its own rules unless names are given.
 */
import type { IncomingMessage, Server } from "node:http";

/** Names a loopback-bound server answers to without being told: any port, any 127.x.x.x. */
function isLoopbackName(name: string): boolean {
  return name === "localhost" || name === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** Whether a socket address (as `server.address()` gives it) reaches this machine only. */
export function isLoopbackAddress(address: string | undefined): boolean {
  return address !== undefined && (address === "::1" || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(address));
}

/** Whether `server` listens on a loopback address only (not a wildcard, not a public one). */
export function boundToLoopback(server: Server | { address(): ReturnType<Server["address"]> }): boolean {
  const bound = server.address();
  return bound !== null && typeof bound === "object" && isLoopbackAddress(bound.address);
}

/** The lowercased name of a Host header without its port (IPv6 literals keep their brackets); undefined if it is none. */
function hostName(host: string): string | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::\d{1,5})?$/.exec(host.toLowerCase());
  return m?.[1];
}

/** Checked once, at start: exact names ("app.example.com") or "*.example.com" for any subdomain; `what` names the option or flag. */
export function checkAllowedHosts(value: unknown, what: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new TypeError(`${what} must be an array of host names, e.g. ["app.example.com", "*.example.com"]`);
  for (const v of value as unknown[]) {
    if (typeof v !== "string" || !/^((\*\.)?[a-z0-9._-]+|\[[0-9a-f:.]+\])$/i.test(v)) {
      throw new TypeError(`${what} ${JSON.stringify(v)} is not a host name: give one without scheme or port, e.g. app.example.com or *.example.com`);
    }
  }
  return (value as string[]).map((v) => v.toLowerCase());
}

/**
 * Whether a request may be answered. With `allowed` names, Host must be a
 * loopback name or one of them; without, a loopback-bound server wants a
 * loopback name and any other server takes any Host. A request without a
 * Host header comes from no browser (every browser sends one) and passes.
 */
export function hostAllowed(request: IncomingMessage, loopbackBound: boolean, allowed: readonly string[] | undefined): boolean {
  const host = request.headers.host;
  if (host === undefined || (allowed === undefined && !loopbackBound)) return true;
  const name = hostName(host);
  if (name === undefined) return false;
  if (isLoopbackName(name)) return true;
  return allowed?.some((rule) => (rule.startsWith("*.") ? name.endsWith(rule.slice(1)) : name === rule)) ?? false;
}

/** The one-line reason given with the 403, in the user's words. */
export function hostRefusal(request: IncomingMessage): string {
  return `Host ${JSON.stringify(request.headers.host)} is not a name of this server (a loopback server answers localhost, 127.0.0.1 and [::1], plus the names its allowed hosts list)`;
}
