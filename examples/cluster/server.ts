/**
 * `npm run example:cluster`: an HTTP server on node:cluster whose workers
 * share one channel layer through ipc://, with no server to install. The
 * primary hosts the engine (serveIpc(cluster)) and replaces crashed workers.
 *
 *   GET  /events      a Server-Sent Events stream of every broadcast
 *   POST /broadcast   body: text; fans it out to every stream on every worker
 *
 * Env: PORT (default 8080; 0 picks a free one), HOST (default 127.0.0.1), WORKERS (default 2).
 */
import cluster from "node:cluster";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createChannelLayer, serveIpc, type ChannelLayer } from "../../src/index.js";

const GROUP = "broadcast";
const MAX_BODY = 64 * 1024;

if (cluster.isPrimary) {
  const ipc = serveIpc(cluster);
  const count = Number(process.env.WORKERS ?? 2);
  let stopping = false;
  let listening = 0;
  cluster.on("listening", (_worker, address) => {
    if (++listening === count) console.log(`cluster example on http://${process.env.HOST ?? "127.0.0.1"}:${address.port}/ (${count} workers, channel layer ipc://)`);
  });
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    console.log(`worker ${worker.process.pid} died (${signal ?? code}); starting a replacement`);
    cluster.fork();
  });
  for (let i = 0; i < count; i++) cluster.fork();
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(workers.map((w) => new Promise((resolve) => (w.once("exit", resolve), w.kill()))));
    await ipc.close();
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
} else {
  const layer = createChannelLayer("ipc://");
  const server = createServer((req, res) => void route(layer, req, res).catch((err: Error) => fail(res, 500, err.message)));
  server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? "127.0.0.1");
  process.on("SIGTERM", () => {
    server.closeAllConnections();
    server.close(() => void layer.close().then(() => process.exit(0)));
  });
}

function fail(res: ServerResponse, status: number, message: string): void {
  if (!res.headersSent) res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: message }));
}

async function route(layer: ChannelLayer, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? "/", "http://x").pathname;
  if (req.method === "GET" && path === "/events") return events(layer, req, res);
  if (req.method === "POST" && path === "/broadcast") {
    let text = "";
    for await (const chunk of req) {
      text += chunk;
      if (text.length > MAX_BODY) return fail(res, 413, `a broadcast is at most ${MAX_BODY} bytes`);
    }
    await layer.groupSend(GROUP, { type: "broadcast", text, worker: process.pid });
    res.writeHead(202, { "content-type": "application/json" });
    return void res.end(JSON.stringify({ sent: true, worker: process.pid }));
  }
  if (req.method === "GET" && path === "/") {
    res.writeHead(200, { "content-type": "text/plain" });
    return void res.end("GET /events streams broadcasts; POST /broadcast (text body) sends one to every stream on every worker\n");
  }
  fail(res, 404, "not found");
}

/** One stream: a process-local channel in the group, read until the client goes. */
async function events(layer: ChannelLayer, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const channel = await layer.newChannel("events");
  await layer.groupAdd(GROUP, channel);
  const gone = new AbortController();
  req.on("close", () => gone.abort());
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.write(`event: hello\ndata: ${JSON.stringify({ worker: process.pid })}\n\n`);
  try {
    for (;;) {
      const message = await layer.receive(channel, { signal: gone.signal });
      res.write(`data: ${JSON.stringify({ text: message.text, from: message.worker, to: process.pid })}\n\n`);
    }
  } catch (err) {
    if (!gone.signal.aborted) throw err;
  } finally {
    await layer.groupDiscard(GROUP, channel).catch(() => {});
    res.end();
  }
}

