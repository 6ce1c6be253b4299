/**
 * BrokerChannelLayer across a broker restart (docs/semantics.md §5): it
 * reconnects, its waiting receive resumes, and its group memberships are
 * added again with the expiry each had left.
 */
import { afterEach, expect, it } from "vitest";
import { BrokerServer, RemoteChannelLayer, type BrokerServerOptions } from "../../src/index.js";
import { PythonPeer } from "../redis/python-peer.js";
import { BROKER_PEER } from "./helpers.js";

const open: Array<{ close(): Promise<void> }> = [];
let broker: BrokerServer | undefined;
afterEach(async () => {
  await Promise.all(open.splice(0).reverse().map((x) => x.close()));
  await broker?.close();
  broker = undefined;
});

async function serve(listen: string, options: BrokerServerOptions = {}): Promise<string> {
  broker = new BrokerServer({ ...options, listen, log: () => undefined });
  const [url] = await broker.listen();
  return url!;
}

/** Stop the broker and start a new one (a new epoch, nothing kept) on the same address. */
async function restart(url: string, options: BrokerServerOptions = {}): Promise<void> {
  await broker!.close();
  await serve(url, options);
}

it("after a broker restart, a waiting Python receive resumes and its memberships are back: group sends from Node reach them", async () => {
  const url = await serve("tcp://127.0.0.1:0");
  const py = await PythonPeer.start({ url }, BROKER_PEER);
  open.push(py);
  const local = await py.newChannel();
  await py.groupAdd("room", local);
  await py.groupAdd("room", "restart.plain");
  const waiting = py.receive("restart.resume", 15);
  await new Promise((r) => setTimeout(r, 100)); // the receive is in the broker
  await restart(url);
  const js = new RemoteChannelLayer(url);
  open.push(js);
  await js.send("restart.resume", { type: "after.restart" });
  expect((await waiting).type).toBe("after.restart");
  await py.send("restart.sync", { type: "sync" }); // written after the restored memberships, so they are in
  await js.groupSend("room", { type: "to.room" });
  expect((await py.receive(local)).type).toBe("to.room");
  expect((await js.receive("restart.plain")).type).toBe("to.room");
}, 30_000);

it("a restored membership keeps the expiry it had left, not a fresh one", async () => {
  const options = { groupExpiry: 3 };
  const url = await serve("tcp://127.0.0.1:0", options);
  const py = await PythonPeer.start({ url }, BROKER_PEER);
  open.push(py);
  await py.groupAdd("expiring", "restart.member");
  const added = Date.now(); // Python's clock started the membership before this
  await new Promise((r) => setTimeout(r, 1000));
  await restart(url, options);
  const js = new RemoteChannelLayer(url);
  open.push(js);
  await py.send("restart.sync", { type: "sync" });
  await js.groupSend("expiring", { type: "restored" });
  expect((await js.receive("restart.member")).type).toBe("restored");
  // Added again with about 2 s left, it ends near added + 3 s; a fresh 3 s from the restart would last past added + 4 s.
  await new Promise((r) => setTimeout(r, Math.max(0, added + 3400 - Date.now())));
  await js.groupSend("expiring", { type: "too.late" });
  await expect(js.receive("restart.member", { signal: AbortSignal.timeout(300) })).rejects.toThrow(/aborted|timeout/i);
}, 30_000);
