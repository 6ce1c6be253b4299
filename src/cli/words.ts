/**
 * Errors in the words of the command line: a CLI user passes flags, not layer
 * options, so an error the library phrases for code is rephrased with the flag
 * that fixes it, and a flag's number is checked under the flag's name.
 */
import { AuthenticationError, ChannelLayerError } from "../errors.js";

/** The one-line message for `err`; `tokenFile` is the --token-file given, if any. */
export function cliMessage(err: unknown, tokenFile: string | undefined): string {
  let message = err instanceof Error ? err.message : String(err);
  // node:util parseArgs takes a value that starts with a dash for a flag of its own, and says so in three lines.
  const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message);
  if (ambiguous) message = `${ambiguous[1]} needs a value (one that starts with "-" is written ${ambiguous[1]}=-…)`;
  if (err instanceof AuthenticationError) {
    message =
      tokenFile === undefined ? "the broker requires a token: pass --token-file FILE" : `the broker refused the token in ${tokenFile}`;
  }
  return err instanceof ChannelLayerError ? `${message} (${err.code})` : message;
}

/** Node's error for `import()` of a file type it cannot run, with the hint that fixes it. */
export function moduleLoadMessage(err: unknown, file: string): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "ERR_UNKNOWN_FILE_EXTENSION" && /\.[cm]?tsx?$/.test(file)) {
    return (
      `cannot load ${file}: Node does not run TypeScript by itself; run it through tsx ` +
      `(NODE_OPTIONS="--import tsx" channel-layers worker ${file}) or compile it to .js`
    );
  }
  return `cannot load ${file}: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * The number a flag gives (undefined when absent); an Error naming the flag
 * unless it is positive and finite (an integer if asked; "inf" too with
 * `infinity`), and at most `max` if given.
 */
export function positiveFlag(
  value: string | undefined,
  flag: string,
  { integer = false, infinity = false, max = Infinity } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = infinity && (value === "inf" || value === "Infinity") ? Infinity : Number(value);
  if (!(n > 0) || n > max || (n === Infinity ? !infinity : integer && !Number.isInteger(n))) {
    const most = max < Infinity ? ` of at most ${max}` : "";
    throw new Error(`${flag} must be a positive ${integer ? "integer" : "number"}${most}${infinity ? ' or "inf"' : ""}, got "${value}"`);
  }
  return n;
}

/**
 * Calls `stop` once, with what happened: SIGTERM, SIGINT, or, when npm started
 * this process, the process between npm and this one exiting. `npx
 * channel-layers serve` runs under `sh -c`, which dies of npm's SIGTERM without
 * passing it on and would leave this process serving (and its port taken), so
 * under npm a changed parent counts as the signal. Outside npm it does not: a
 * server started with `nohup … &` outlives its shell on purpose.
 */
export function onStop(stop: (what: string) => void): void {
  let stopped = false;
  const parent = process.ppid;
  const watch =
    process.env.npm_command === undefined
      ? undefined
      : setInterval(() => {
          if (process.ppid !== parent) once("the process npm started it through exited");
        }, 250);
  watch?.unref();
  function once(what: string): void {
    if (stopped) return;
    stopped = true;
    clearInterval(watch);
    stop(what);
  }
  process.once("SIGTERM", () => once("SIGTERM received"));
  process.once("SIGINT", () => once("SIGINT received"));
}
