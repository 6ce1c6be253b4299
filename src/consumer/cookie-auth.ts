/**
 * `cookieAuth`: an `authenticate` hook for session cookies, what Channels'
 * `AuthMiddlewareStack` does for Django sessions. The browser sends the
 * cookie with the WebSocket handshake; the app looks the session up.
 */
import type { IncomingMessage } from "node:http";
import type { Authenticate } from "./serve.js";

/** Finds who holds a session: the user (it becomes `scope.user`), or null/undefined for nobody (HTTP 401). */
export type SessionLookup = (session: string, request: IncomingMessage) => unknown;

/**
 * An `authenticate` hook that reads the cookie `name` from the handshake and
 * resolves with `lookup(value)`. Without the cookie (or with one that does not
 * decode) the handshake is refused with 401 and `lookup` is not called; a
 * `lookup` that throws refuses it with 403, as any `authenticate` does.
 * Cookies go with every request a browser makes to the host, from any page:
 * keep `allowedOrigins` to your own pages (the default).
 */
export function cookieAuth(name: string, lookup: SessionLookup): Authenticate {
  if (typeof name !== "string" || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
    throw new TypeError(`cookieAuth: ${JSON.stringify(name)} is not a cookie name`);
  }
  if (typeof lookup !== "function") throw new TypeError("cookieAuth: lookup must be a function (session value, request) → user");
  return (request) => {
    const session = cookie(request.headers.cookie, name);
    return session === undefined ? undefined : lookup(session, request);
  };
}

/** The value of cookie `name` in a Cookie header (RFC 6265: `a=1; b=2`), percent-decoded; undefined when absent or undecodable. */
function cookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value === "") return undefined;
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
