/**
 * Routing by path with parameters: "/ws/chat/:room" matches "/ws/chat/lobby"
 * with `{ room: "lobby" }`. A parameter is one non-empty path segment,
 * percent-decoded. The first route that matches wins.
 */

export interface CompiledPath {
  readonly pattern: string;
  /** The parameters of `pathname`, or `undefined` when it does not match. */
  match(pathname: string): Record<string, string> | undefined;
}

const PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)$/;

export function compilePath(pattern: string): CompiledPath {
  if (!pattern.startsWith("/")) throw new TypeError(`route path ${JSON.stringify(pattern)} must start with "/"`);
  const names: string[] = [];
  const source = pattern
    .split("/")
    .map((segment) => {
      const param = PARAM.exec(segment);
      if (param) {
        if (names.includes(param[1]!)) throw new TypeError(`route path ${JSON.stringify(pattern)} names ":${param[1]}" twice`);
        names.push(param[1]!);
        return "([^/]+)";
      }
      if (segment.includes(":")) throw new TypeError(`route path ${JSON.stringify(pattern)}: bad parameter segment "${segment}"`);
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  const regex = new RegExp(`^${source}/?$`);
  return {
    pattern,
    match(pathname) {
      const m = regex.exec(pathname);
      if (!m) return undefined;
      const params: Record<string, string> = {};
      for (let i = 0; i < names.length; i++) {
        try {
          params[names[i]!] = decodeURIComponent(m[i + 1]!);
        } catch {
          return undefined; // malformed percent-encoding is no match, never a crash
        }
      }
      return params;
    },
  };
}

/** First route whose path matches, with its parameters. */
export class Router<R extends { path: string }> {
  private readonly compiled: Array<{ route: R; path: CompiledPath }>;

  constructor(routes: readonly R[]) {
    this.compiled = routes.map((route) => ({ route, path: compilePath(route.path) }));
  }

  match(pathname: string): { route: R; params: Record<string, string> } | undefined {
    for (const { route, path } of this.compiled) {
      const params = path.match(pathname);
      if (params) return { route, params };
    }
    return undefined;
  }
}
