/**
 * `channel-layers worker MODULE`: Channels' `runworker` from the command
 * line. MODULE's default export is the handlers (one function, or one per
 * message type) and it may export `channel`; SIGTERM or SIGINT stops taking
 * messages, lets in-flight handlers finish, and exits 0.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { Handlers } from "../consumer/worker.js";
import { runWorker } from "../consumer/worker.js";
import { createChannelLayer } from "../url.js";
import { cliMessage, moduleLoadMessage, onStop, positiveFlag } from "./words.js";

export const WORKER_USAGE = `worker options (channel-layers worker MODULE [options]; a .ts MODULE needs NODE_OPTIONS="--import tsx"):
  --url URL               the channel layer (default $CHANNEL_LAYER_URL, else the local broker)
  --channel NAME          the worker channel (default: the module's exported \`channel\`)
  --concurrency N         handlers running at once (default 1)
  --token-file FILE       the token the broker requires
  --help                  this text`;

export async function workerCommand(
  args: string[],
  defaultUrl: string,
  readToken: (file: string | undefined) => string | undefined,
  log: (line: string) => void,
): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      channel: { type: "string" },
      concurrency: { type: "string" },
      "token-file": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(WORKER_USAGE);
  const file = positionals[0];
  if (file === undefined) throw new Error(`worker needs a MODULE whose default export is its handlers\n\n${WORKER_USAGE}`);
  let module: { default?: Handlers; channel?: string };
  try {
    module = (await import(pathToFileURL(resolve(file)).href)) as typeof module;
  } catch (err) {
    throw new Error(moduleLoadMessage(err, file), { cause: err });
  }
  const handlers = module.default;
  if (typeof handlers !== "function" && (typeof handlers !== "object" || handlers === null)) {
    throw new Error(`${file} must export its handlers as default: a function, or an object of functions by message type`);
  }
  const channel = values.channel ?? module.channel;
  if (channel === undefined) throw new Error(`no worker channel: pass --channel NAME or export \`channel\` from ${file}`);
  const concurrency = positiveFlag(values.concurrency, "--concurrency", { integer: true }) ?? 1;
  const url = values.url ?? process.env.CHANNEL_LAYER_URL ?? defaultUrl;
  const token = readToken(values["token-file"]);
  const layer = createChannelLayer(url, token === undefined ? {} : { token });
  const worker = runWorker(layer, channel, handlers, {
    concurrency,
    onError: (err, message) => log(`handler for "${message.type}" failed: ${(err as Error)?.stack ?? String(err)}`),
  });
  log(`worker on ${channel} (${url}), ${concurrency} at once`);
  const stop = async (what: string): Promise<void> => {
    log(`${what}: finishing in-flight handlers`);
    await worker.stop();
    await layer.close();
    log(`stopped after ${worker.processed} handled, ${worker.failed} failed`);
  };
  await new Promise<void>((done, fail) => {
    onStop((what) => void stop(what).then(done, fail));
    // A layer that closes under the worker (the broker went away for good) ends it too; a refused token ends it with an error.
    worker.done.then(
      () => layer.close().then(done, fail),
      (err: unknown) => void layer.close().finally(() => fail(new Error(cliMessage(err, values["token-file"])))),
    );
  });
}
