/**
 * The client side of the WebSocket rooms bench, run in its own process
 * (forked by rooms.ts) so the server's event loop has a core of its own, as
 * it would in production. Opens the clients, runs the rounds, and sends back
 * the latencies; sender and receivers share this process's clock.
 *
 * Both servers are driven by the same `ws` clients, so the client process
 * costs the same on the shared machine whichever server it measures:
 *   "ws":       our serve(); a frame is the JSON content itself.
 *   "socketio": Socket.IO 4 spoken by hand over its websocket transport
 *               (Engine.IO v4 packets, Socket.IO v5 events: `42["say",{…}]`),
 *               as socket.io-client would after its handshake, without its
 *               per-packet client-side machinery.
 *
 *   IPC in:  { port, protocol, clients, rooms, warmup, rounds }
 *   IPC out: { timing: "start" } as the timed rounds begin, then
 *            { deliveries, seconds, p50Ms, p99Ms } or { error }
 */
import WebSocket from "ws";

export type RoomsProtocol = "ws" | "socketio";

interface Job {
  port: number;
  protocol: RoomsProtocol;
  clients: number;
  rooms: number;
  warmup: number;
  rounds: number;
}

/** How one protocol opens a client in a room, recognises its "ready", frames a say, and reads one back. */
interface Dialect {
  url(port: number, room: string): string;
  /** Handle a frame before the client is ready; true once the server says it has joined the room. */
  ready(ws: WebSocket, frame: string): boolean;
  say(content: string): string;
  /** The sent time of a room message, or undefined for a control frame (answered here). */
  heard(ws: WebSocket, frame: string): number | undefined;
}

const dialects: Record<RoomsProtocol, Dialect> = {
  ws: {
    url: (port, room) => `ws://127.0.0.1:${port}/bench/${room}`,
    ready: () => true, // the first frame says the consumer has joined its room
    say: (content) => content,
    heard: (_ws, frame) => (JSON.parse(frame) as { t: number }).t,
  },
  socketio: {
    url: (port, room) => `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket&room=${room}`,
    ready(ws, frame) {
      if (frame.startsWith("0")) ws.send("40"); // Engine.IO open → connect to the main namespace
      else if (frame === "2") ws.send("3"); // ping → pong
      return frame === '42["ready"]';
    },
    say: (content) => `42["say",${content}]`,
    heard(ws, frame) {
      if (frame.startsWith("42")) return (JSON.parse(frame.slice(2)) as [string, { t: number }])[1].t;
      if (frame === "2") ws.send("3");
      return undefined;
    },
  },
};

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function run({ port, protocol, clients: count, rooms, warmup, rounds }: Job): Promise<Record<string, number>> {
  const dialect = dialects[protocol];
  let latencies = new Float64Array(count * warmup);
  let got = 0;
  let roundDone: () => void = () => {};
  const clients: WebSocket[] = [];
  try {
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, count - i) }, (_, j) => {
          const ws = new WebSocket(dialect.url(port, `r${(i + j) % rooms}`));
          clients.push(ws);
          return new Promise<void>((resolve, reject) => {
            ws.once("error", reject);
            const opening = (data: Buffer): void => {
              if (!dialect.ready(ws, data.toString())) return;
              ws.off("message", opening);
              ws.on("message", (frame: Buffer) => {
                const t = dialect.heard(ws, frame.toString());
                if (t === undefined) return;
                latencies[got++] = performance.now() - t;
                if (got % count === 0) roundDone();
              });
              resolve();
            };
            ws.on("message", opening);
          });
        }),
      );
    }
    const senders = clients.slice(0, rooms); // client k is in room k
    const round = (): Promise<void> =>
      new Promise<void>((resolve) => {
        roundDone = resolve;
        for (const ws of senders) ws.send(dialect.say(JSON.stringify({ t: performance.now(), text: "hello room" })));
      });
    for (let r = 0; r < warmup; r++) await round();
    latencies = new Float64Array(count * rounds);
    got = 0;
    process.send!({ timing: "start" }); // the server's CPU clock starts here
    const start = performance.now();
    for (let r = 0; r < rounds; r++) await round();
    const seconds = (performance.now() - start) / 1000;
    latencies.sort();
    return { deliveries: got, seconds, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
  } finally {
    for (const ws of clients) ws.terminate();
  }
}

process.once("message", (job: Job) => {
  run(job).then(
    (result) => process.send!(result, () => process.exit(0)),
    (err: unknown) => process.send!({ error: String(err) }, () => process.exit(1)),
  );
});
