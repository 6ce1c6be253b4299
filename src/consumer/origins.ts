/**
 * Which web pages may open a WebSocket here, by the Origin header browsers
 * send with every handshake (what Channels' OriginValidator and
 * AllowedHostsOriginValidator check). A page on another site cannot forge
 * it; a non-browser client can send anything, or nothing, so this protects
 * browser users (cross-site WebSocket hijacking), not the server.
 */

/**
 * Allowed origins: exact origins ("https://app.example.com"), host patterns
 * ("example.com", "*.example.com" for any subdomain), or "*" for any origin.
 */
export type AllowedOrigins = readonly string[] | "*";

/**
 * Whether a handshake with `origin` may go on. Without a rule (the default),
 * the Origin's host must be the request's Host (same site). A handshake
 * without an Origin header comes from no browser page and is let through.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: AllowedOrigins | undefined): boolean {
  if (origin === undefined || allowed === "*") return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // "null" (a sandboxed page, a file:) and garbage
  }
  if (allowed === undefined) return host !== undefined && url.host === host.toLowerCase();
  const normalized = url.origin;
  return allowed.some((rule) => {
    if (rule === "*") return true;
    if (rule.includes("://")) return normalized === rule.replace(/\/$/, "").toLowerCase();
    const pattern = rule.toLowerCase();
    if (pattern.startsWith("*.")) return url.hostname.endsWith(pattern.slice(1));
    return url.hostname === pattern || url.host === pattern;
  });
}

/** Checked once, when serve() is called: a typo fails there, not at the first browser. */
export function checkAllowedOrigins(value: unknown, what: string): AllowedOrigins | undefined {
  if (value === undefined || value === "*") return value;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v === "")) {
    throw new TypeError(`${what} must be "*" or an array of origins ("https://app.example.com") and host patterns ("*.example.com")`);
  }
  return value as string[];
}
