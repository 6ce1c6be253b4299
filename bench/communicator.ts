/**
 * How much faster a WebSocket test runs through the testing kit's
 * communicator than over a real socket: the same chat test (two clients
 * join a room, exchange a message each way, leave), timed both ways.
 *
 *   node --import tsx bench/communicator.ts [--runs N]
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { chatRoutes } from "../examples/chat/chat.js";
import { InMemoryChannelLayer, serve } from "../src/index.js";
import { WebSocketCommunicator } from "../src/testing/index.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "200" } } });
const runs = Number(values.runs);

interface Client {
  next(): Promise<unknown>;
  send(value: unknown): void;
  close(): Promise<void>;
}

async function chatTest(open: (path: string) => Promise<Client>): Promise<void> {
  const ann = await open("/ws/chat/lobby?name=ann");
  await ann.next(); // welcome
  await ann.next(); // ann joined
  const bob = await open("/ws/chat/lobby?name=bob");
  await bob.next();
  await bob.next();
  await ann.next(); // bob joined
  ann.send({ type: "message", text: "hi" });
  await ann.next();
  await bob.next();
  bob.send({ type: "message", text: "hello" });
  await ann.next();
  await bob.next();
  await bob.close();
  await ann.next(); // bob left
  await ann.close();
}

async function time(name: string, open: (path: string) => Promise<Client>): Promise<number> {
  for (let i = 0; i < 10; i++) await chatTest(open); // warm up
  const start = performance.now();
  for (let i = 0; i < runs; i++) await chatTest(open);
  const perTest = (performance.now() - start) / runs;
  console.log(`${name.padEnd(14)} ${perTest.toFixed(3)} ms per test (${runs} runs)`);
  return perTest;
}

const layer = new InMemoryChannelLayer();
const app = { layer, routes: chatRoutes.map((r) => ({ ...r, throttle: undefined })) };

const memory = await time("communicator", async (path) => {
  const c = new WebSocketCommunicator(app, path);
  await c.connect();
  return { next: () => c.receiveJson(), send: (v) => c.sendJson(v as never), close: () => c.disconnect() };
});

const server = createServer();
const service = serve({ ...app, server });
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
const socket = await time("real socket", async (path) => {
  const ws = new WebSocket(base + path);
  const frames: unknown[] = [];
  const waiting: Array<(v: unknown) => void> = [];
  ws.on("message", (data: Buffer) => {
    const v: unknown = JSON.parse(data.toString());
    const w = waiting.shift();
    if (w) w(v);
    else frames.push(v);
  });
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  return {
    next: () => (frames.length > 0 ? Promise.resolve(frames.shift()) : new Promise((r) => waiting.push(r))),
    send: (v) => ws.send(JSON.stringify(v)),
    close: async () => {
      const before = service.connections;
      ws.close();
      await new Promise((r) => ws.once("close", r));
      // As the communicator's disconnect(): wait until the server's consumer has stopped.
      while (service.connections >= before) await new Promise((r) => setImmediate(r));
    },
  };
});
console.log(`communicator is ${(socket / memory).toFixed(1)}x faster`);
await service.close();
server.close();
await layer.close();
