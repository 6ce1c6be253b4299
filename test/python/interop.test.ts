/**
 * Python's BrokerChannelLayer (python/, run under Debian's /usr/bin/python3)
 * and Node's RemoteChannelLayer on one real BrokerServer: every operation
 * both ways. These fail, not skip, without Python, channels or msgpack.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BrokerServer, ChannelFullError, RemoteChannelLayer, type BrokerServerOptions } from "../../src/index.js";
import { instanceIdOf } from "../../src/protocol/identity.js";
import { PROTOCOL_VERSION } from "../../src/protocol/ops.js";
import { PYTHON, PythonPeer, toTagged } from "../redis/python-peer.js";
import { startBroker, tempDir } from "../remote/helpers.js";
import { VALUES, expectValues } from "../redis/interop-values.js";
import { BROKER_PEER, PYTHON_PACKAGE, expectPythonValues } from "./helpers.js";
import { needs } from "../services.js";

await needs("python");

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).reverse().map((x) => x.close()));
});

async function broker(options: BrokerServerOptions = {}): Promise<{ server: BrokerServer; url: string }> {
  const started = await startBroker({ log: () => undefined, ...options });
  open.push(started.server);
  return started;
}

async function python(config: Record<string, unknown>): Promise<PythonPeer> {
  const py = await PythonPeer.start(config, BROKER_PEER);
  open.push(py);
  return py;
}

function node(url: string, options: ConstructorParameters<typeof RemoteChannelLayer>[1] = {}): RemoteChannelLayer {
  const layer = new RemoteChannelLayer(url, options);
  open.push(layer);
  return layer;
}

async function pair(options: BrokerServerOptions = {}): Promise<{ url: string; py: PythonPeer; js: RemoteChannelLayer }> {
  const { url } = await broker(options);
  return { url, py: await python({ url }), js: node(url) };
}

/** A Node receive that must find nothing within `ms`. */
async function nothingWithin(layer: RemoteChannelLayer, channel: string, ms = 300): Promise<void> {
  await expect(layer.receive(channel, { signal: AbortSignal.timeout(ms) })).rejects.toThrow(/aborted|timeout/i);
}

describe("interop: Python BrokerChannelLayer and Node on one broker", () => {
  it("Python sends on a normal channel and Node receives every value type", async () => {
    const { py, js } = await pair();
    await py.send("interop.py-to-js", VALUES);
    expectValues(await js.receive("interop.py-to-js"));
  });

  it("Node sends on a normal channel and Python receives every value type", async () => {
    const { py, js } = await pair();
    await js.send("interop.js-to-py", VALUES);
    expectPythonValues(await py.call("receive", { channel: "interop.js-to-py" }));
  });

  it("both sides take turns on one worker channel, in order", async () => {
    const { py, js } = await pair();
    for (let i = 0; i < 4; i++) await (i % 2 ? js : py).send("interop.work", { type: "job", i });
    expect((await py.receive("interop.work")).i).toBe(0);
    expect((await js.receive("interop.work")).i).toBe(1);
    expect((await py.receive("interop.work")).i).toBe(2);
    expect((await js.receive("interop.work")).i).toBe(3);
  });

  it("Python sends to Node's process-local channel; Node sends to Python's", async () => {
    const { py, js } = await pair();
    const jsChannel = await js.newChannel();
    const pyChannel = await py.newChannel();
    expect(pyChannel).toMatch(/^specific\.[0-9a-f]{16}!\w{12}$/);
    expect(pyChannel).toContain(`.${py.clientPrefix}!`);
    await py.send(jsChannel, { type: "to.js" });
    await js.send(pyChannel, { type: "to.py" });
    expect((await js.receive(jsChannel)).type).toBe("to.js");
    expect((await py.receive(pyChannel)).type).toBe("to.py");
  });

  it("neither side may receive from the other's process-local channel", async () => {
    const { py, js } = await pair();
    const jsChannel = await js.newChannel();
    const pyChannel = await py.newChannel();
    await expect(py.receive(jsChannel)).rejects.toThrow(/TypeError: .*process-local to another layer instance/);
    await expect(js.receive(pyChannel)).rejects.toThrow(/process-local to another layer instance/);
  });

  it("groups mix Python and Node members: a group send from either side reaches all; a discard from either side holds", async () => {
    const { py, js } = await pair();
    const pyChannel = await py.newChannel();
    const jsChannel = await js.newChannel();
    await py.groupAdd("room", pyChannel);
    await js.groupAdd("room", jsChannel);
    await py.groupAdd("room", "interop.plain");
    await py.groupSend("room", { type: "from.py" });
    await js.groupSend("room", { type: "from.js" });
    for (const from of ["from.py", "from.js"]) {
      expect((await py.receive(pyChannel)).type).toBe(from);
      expect((await js.receive(jsChannel)).type).toBe(from);
      expect((await js.receive("interop.plain")).type).toBe(from);
    }
    await js.groupDiscard("room", "interop.plain");
    await py.call("group_discard", { group: "room", channel: jsChannel });
    await py.groupSend("room", { type: "after.discard" });
    expect((await py.receive(pyChannel)).type).toBe("after.discard");
    await nothingWithin(js, jsChannel);
    await nothingWithin(js, "interop.plain");
  });

  it("capacity is the broker's: ChannelFull in Python, ChannelFullError in Node, and group sends skip the full member", async () => {
    const { py, js } = await pair({ capacity: 2 });
    await py.send("interop.full", { type: "a" });
    expect(await py.call("settings")).toMatchObject({ capacity: 2 }); // the broker's, once connected
    await js.send("interop.full", { type: "b" });
    await expect(py.send("interop.full", { type: "c" })).rejects.toThrow("ChannelFull");
    await expect(js.send("interop.full", { type: "c" })).rejects.toBeInstanceOf(ChannelFullError);
    await py.groupAdd("full", "interop.full");
    await py.groupAdd("full", "interop.open");
    await py.groupSend("full", { type: "skips" });
    expect((await js.receive("interop.open")).type).toBe("skips");
    expect((await py.receive("interop.full")).type).toBe("a");
    expect((await py.receive("interop.full")).type).toBe("b");
    await nothingWithin(js, "interop.full");
  });

  it("expiry is the broker's: what neither side received in time is gone for both", async () => {
    const { py, js } = await pair({ expiry: 0.3 });
    await py.send("interop.expire", { type: "stale.py" });
    expect(await py.call("settings")).toMatchObject({ expiry: 0.3 });
    await js.send("interop.expire", { type: "stale.js" });
    await new Promise((r) => setTimeout(r, 450));
    await py.send("interop.expire", { type: "fresh.py" });
    await js.send("interop.expire", { type: "fresh.js" });
    expect((await js.receive("interop.expire")).type).toBe("fresh.py");
    expect((await py.receive("interop.expire")).type).toBe("fresh.js");
  });

  it("a flush from Python empties Node's channels and groups, and one from Node Python's", async () => {
    const { py, js } = await pair();
    await js.send("interop.flush", { type: "gone" });
    await js.groupAdd("flushed", "interop.member");
    await py.call("flush");
    await js.groupSend("flushed", { type: "nobody" });
    await js.send("interop.flush", { type: "kept" });
    expect((await py.receive("interop.flush")).type).toBe("kept");
    await nothingWithin(js, "interop.member");
    await py.send("interop.flush", { type: "gone" });
    await js.flush();
    await js.send("interop.flush", { type: "kept" });
    expect((await py.receive("interop.flush")).type).toBe("kept");
  });

  it("a Python receive cancelled as the broker answers it loses nothing: the message goes back to the head", async () => {
    const { py, js } = await pair();
    expect(await py.call("cancel_race", { channel: "interop.race", message: toTagged({ type: "first" }) })).toBe("cancelled");
    await js.send("interop.race", { type: "second" });
    expect((await js.receive("interop.race", { signal: AbortSignal.timeout(2000) })).type).toBe("first");
    expect((await py.receive("interop.race")).type).toBe("second");
  });

  it("a Python receive waiting when its layer closes is cancelled in the broker: Node gets the next message", async () => {
    const { py, js } = await pair();
    expect(await py.call("close_while_receiving", { channel: "interop.closing" })).toBe("LayerClosed");
    await js.send("interop.closing", { type: "for.node" });
    expect((await js.receive("interop.closing", { signal: AbortSignal.timeout(2000) })).type).toBe("for.node");
  });

  it("over a Unix socket", async () => {
    const dir = tempDir();
    open.push({ close: async () => dir.remove() });
    const { url } = await broker({ listen: `unix://${join(dir.path, "b.sock")}` });
    const py = await python({ url });
    const js = node(url);
    await py.send("interop.unix", { type: "over.unix" });
    expect((await js.receive("interop.unix")).type).toBe("over.unix");
  });
});

describe("interop: tokens, TLS and protocol versions", () => {
  const dir = tempDir();
  let cert: string;
  let key: string;
  beforeAll(() => {
    // A throwaway self-signed certificate for 127.0.0.1, as test/remote/security.test.ts makes.
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1",
      "-keyout", join(dir.path, "key.pem"), "-out", join(dir.path, "cert.pem"),
    ], { stdio: "ignore" });
    cert = join(dir.path, "cert.pem");
    key = join(dir.path, "key.pem");
    writeFileSync(join(dir.path, "token"), "s3cret\n");
  });
  afterAll(() => dir.remove());

  it("a token from token_file or from the URL's password is accepted; none or a wrong one is refused in one line", async () => {
    const { url } = await broker({ token: "s3cret" });
    const fromFile = await python({ url, token_file: join(dir.path, "token") });
    await fromFile.send("interop.auth", { type: "file" });
    const fromUrl = await python({ url: url.replace("tcp://", "tcp://:s3cret@") });
    expect((await fromUrl.receive("interop.auth")).type).toBe("file");
    const none = await python({ url });
    await expect(none.send("interop.auth", { type: "x" })).rejects.toThrow(
      /^python: BrokerRefused: the broker at tcp:\/\/127\.0\.0\.1:\d+ refused this client: the broker requires a token[^\n]*$/,
    );
    const wrong = await python({ url, token: "nope" });
    await expect(wrong.send("interop.auth", { type: "x" })).rejects.toThrow(/refused this client: the broker refused the token$/);
  });

  it("over tls:// with a CA file, to a Node peer", async () => {
    const server = new BrokerServer({ listen: "tls://127.0.0.1:0", tls: { cert: readFileSync(cert), key: readFileSync(key) }, log: () => undefined });
    open.push(server);
    const [url] = (await server.listen()) as [string];
    const py = await python({ url, ca_file: cert });
    const js = node(url, { tls: { ca: readFileSync(cert) } });
    await py.send("interop.tls", { type: "over.tls" });
    expect((await js.receive("interop.tls")).type).toBe("over.tls");
    // connect_timeout bounds each attempt too: at 0.5 s a TLS handshake on a loaded machine could outlast it, and the
    // error then named the timeout, not the certificate. 3 s leaves room for a handshake to fail on its own.
    const untrusting = await python({ url, connect_timeout: 3 });
    await expect(untrusting.send("interop.tls", { type: "x" })).rejects.toThrow(/ConnectionLost: .*unreachable.*CERTIFICATE_VERIFY_FAILED/);
  });

  it("a client of another protocol version gets one clear line naming both versions", async () => {
    const { url } = await broker();
    const old = await python({ url, protocol_version: PROTOCOL_VERSION - 1 });
    await expect(old.send("interop.version", { type: "x" })).rejects.toThrow(
      new RegExp(`^python: BrokerRefused: the broker at tcp://127\\.0\\.0\\.1:\\d+ refused this client: protocol version ${PROTOCOL_VERSION - 1} is not supported: this broker speaks version ${PROTOCOL_VERSION}; [^\\n]*$`),
    );
  });

  it("Python draws its identity as src/protocol/identity.ts does: a 32-character base64url secret, the id its sha256", () => {
    const script = [
      "import json, sys",
      `sys.path.insert(0, ${JSON.stringify(PYTHON_PACKAGE)})`,
      "from channel_layers import BrokerChannelLayer, wire",
      "layer = BrokerChannelLayer()",
      "print(json.dumps({'secret': layer.secret, 'id': layer.instance_id, 'fixed': [wire.instance_id_for(s) for s in ['a', 'héllo ✓', 'x' * 200]]}))",
    ].join("\n");
    const out = JSON.parse(execFileSync(PYTHON, ["-c", script], { encoding: "utf8" })) as { secret: string; id: string; fixed: string[] };
    expect(out.secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(out.id).toBe(instanceIdOf(out.secret));
    expect(out.fixed).toEqual(["a", "héllo ✓", "x".repeat(200)].map(instanceIdOf));
  });

  it("the Python package speaks the protocol version of src/protocol/ops.ts", () => {
    const source = readFileSync(new URL("../../python/channel_layers/wire.py", import.meta.url), "utf8");
    expect(source).toMatch(new RegExp(`^PROTOCOL_VERSION = ${PROTOCOL_VERSION}$`, "m"));
  });
});

