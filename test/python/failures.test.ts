/**
 * BrokerChannelLayer when the broker is not there or not sane: every call
 * fails after connect_timeout with one line naming the address and the last
 * error, and the layer still closes cleanly (the peer process exits).
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, expect, it } from "vitest";
import { PythonPeer } from "../redis/python-peer.js";
import { BROKER_PEER } from "./helpers.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).reverse().map((x) => x.close()));
});

/** A TCP server that writes `bytes` to every connection; resolves with its tcp:// URL. */
async function fakeBroker(bytes: Buffer): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    socket.write(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  open.push({
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
  return `tcp://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function sendThrough(url: string): Promise<Error> {
  const py = await PythonPeer.start({ url, connect_timeout: 0.5 }, BROKER_PEER);
  open.push(py);
  return py.send("failures.any", { type: "x" }).then(
    () => new Error("the send succeeded"),
    (err: Error) => err,
  );
}

const unreachable = (url: string, why: string): RegExp =>
  new RegExp(`^python: ConnectionLost: the broker at ${url.replace(/\./g, "\\.")} has been unreachable for over 0\\.5 s \\(connect_timeout\\) \\(last error: ${why}\\); still retrying in the background$`);

it("nothing listening: ConnectionLost after connect_timeout, naming the address and the refusal", async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `tcp://127.0.0.1:${(server.address() as { port: number }).port}`;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  expect((await sendThrough(url)).message).toMatch(unreachable(url, ".*(Connect call failed|refused).*"));
});

it("a 'broker' announcing a 2 GiB frame is dropped before it is read, and the calls say why", async () => {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(0x7fff_ffff);
  const url = await fakeBroker(header);
  expect((await sendThrough(url)).message).toMatch(unreachable(url, "the broker sent a frame of 2147483647 bytes, over this client's limit of 16777216"));
});

it("a 'broker' sending bytes that are not msgpack is dropped, and the calls say why", async () => {
  const url = await fakeBroker(Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]));
  expect((await sendThrough(url)).message).toMatch(unreachable(url, "the broker sent a frame that is not msgpack: .*"));
});
