/**
 * Who may do what on the broker: tokens and what each one grants (identity.ts
 * keeps one client from passing for another).
 *
 * A broker with one token (or none) lets its holders do everything, as it
 * always has. A broker may instead list several tokens, each granting send,
 * receive and group rights by fnmatch pattern (as `channelCapacity` matches
 * names) and, or not, `admin` (flush; other clients in stats).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { globToRegExp } from "../options/patterns.js";

/** One token and what it grants. With none of send/receive/group/admin given, it grants everything. */
export interface TokenGrant {
  token: string;
  /** Channels it may send to (fnmatch patterns). */
  send?: string[];
  /** Channels it may receive from, and add to or remove from groups. Its own process-local channels are always its. */
  receive?: string[];
  /** Groups it may add to, remove from and send to. */
  group?: string[];
  /** May flush the broker and see other clients in stats. */
  admin?: boolean;
}

/** Whether `t` grants admin rights (a bare token grants everything). */
export function grantsAdmin(t: TokenGrant): boolean {
  return t.admin === true || (t.send === undefined && t.receive === undefined && t.group === undefined && t.admin === undefined);
}

/** What a client that presented a token may do. */
export interface Grant {
  send(channel: string): boolean;
  receive(channel: string): boolean;
  group(group: string): boolean;
  readonly admin: boolean;
}

export const EVERYTHING: Grant = { send: () => true, receive: () => true, group: () => true, admin: true };

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

function matcher(patterns: string[] | undefined, what: string): (name: string) => boolean {
  if (patterns === undefined) return () => false;
  if (!Array.isArray(patterns) || patterns.some((p) => typeof p !== "string")) {
    throw new TypeError(`${what} must be an array of fnmatch patterns`);
  }
  const res = patterns.map(globToRegExp);
  return (name) => res.some((re) => re.test(name));
}

function grantOf(t: TokenGrant, index: number): Grant {
  if (typeof t !== "object" || t === null || typeof t.token !== "string" || t.token === "") {
    throw new TypeError(`tokens[${index}].token must be a non-empty string`);
  }
  if (t.send === undefined && t.receive === undefined && t.group === undefined && t.admin === undefined) return EVERYTHING;
  return {
    send: matcher(t.send, `tokens[${index}].send`),
    receive: matcher(t.receive, `tokens[${index}].receive`),
    group: matcher(t.group, `tokens[${index}].group`),
    admin: t.admin === true,
  };
}

/** The broker's tokens: which grant, if any, a presented token carries. Every comparison is constant-time. */
export class Access {
  private readonly grants: Array<{ digest: Buffer; grant: Grant }>;

  constructor(tokens: TokenGrant[] | undefined) {
    this.grants = (tokens ?? []).map((t, i) => {
      const grant = grantOf(t, i);
      return { digest: digest(t.token), grant };
    });
  }

  /** How many different grants the tokens carry (1 when none is required): the reply cache's shares. */
  get writers(): number {
    return Math.max(1, new Set(this.grants.map((g) => g.grant)).size);
  }

  /** No token is required. */
  get open(): boolean {
    return this.grants.length === 0;
  }

  /** The grant of `token`, or undefined when it is none of the broker's. */
  grant(token: unknown): Grant | undefined {
    if (this.open) return EVERYTHING;
    if (typeof token !== "string") return undefined;
    const presented = digest(token);
    let found: Grant | undefined;
    // Every token is compared, so the time taken says nothing about which matched.
    for (const g of this.grants) if (timingSafeEqual(presented, g.digest) && found === undefined) found = g.grant;
    return found;
  }
}

/**
 * A token file: one bare token (the whole file, trimmed) grants everything;
 * otherwise one token a line, each followed by what it grants:
 *
 *     # token      rights
 *     s3cret-ops   admin send=* receive=* group=*
 *     chat-web     send=chat.* receive=chat.*,specific.* group=room.*
 *
 * Blank lines and lines starting with # are skipped. Throws a one-line error
 * naming the file and line.
 */
export function parseTokenFile(text: string, file: string): TokenGrant[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const meaningful = lines.filter((l) => l !== "" && !l.startsWith("#"));
  if (meaningful.length === 0) throw new Error(`--token-file ${file} is empty`);
  const grants: TokenGrant[] = [];
  lines.forEach((line, i) => {
    if (line === "" || line.startsWith("#")) return;
    const [token, ...words] = line.split(/\s+/);
    const grant: TokenGrant = { token: token! };
    for (const word of words) {
      if (word === "admin") grant.admin = true;
      else {
        const m = /^(send|receive|group)=(.+)$/.exec(word);
        if (m === null) throw new Error(`--token-file ${file} line ${i + 1}: "${word}" is not admin, send=, receive= or group=PATTERNS`);
        (grant[m[1] as "send" | "receive" | "group"] ??= []).push(...m[2]!.split(",").filter((p) => p !== ""));
      }
    }
    if (words.length > 0) {
      grant.send ??= [];
      grant.receive ??= [];
      grant.group ??= [];
      grant.admin ??= false;
    }
    grants.push(grant);
  });
  return grants;
}
