/** Token, TLS and binding: who may talk to the broker. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthenticationError, BrokerServer, ConnectionLostError, createChannelLayer, DEFAULT_BROKER_PORT, RemoteChannelLayer } from "../../src/index.js";
import { DEFAULT_LISTEN, parseAddress } from "../../src/transport/address.js";
import { Op, PROTOCOL_VERSION, Status } from "../../src/protocol/ops.js";
import { rawClient, startBroker, tempDir } from "./helpers.js";

describe("token", () => {
  let broker: { server: BrokerServer; url: string };
  beforeAll(async () => {
    broker = await startBroker({ token: "s3cret" });
  });
  afterAll(() => broker.server.close());

  it("a client without the token is refused with AuthenticationError", async () => {
    const layer = new RemoteChannelLayer(broker.url);
    const err = await layer.send("x", { type: "t" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err).toMatchObject({ code: "ERR_AUTHENTICATION", message: expect.stringMatching(/requires a token/) });
    // It does not retry: every later call fails the same way, at once.
    await expect(layer.receive("x")).rejects.toBeInstanceOf(AuthenticationError);
    await layer.close();
  });

  it("a wrong token is refused and the connection ended", async () => {
    const layer = new RemoteChannelLayer(broker.url, { token: "guess" });
    await expect(layer.send("x", { type: "t" })).rejects.toThrow(AuthenticationError);
    await layer.close();
    const raw = rawClient(broker.url);
    raw.send([Op.Hello, 1, PROTOCOL_VERSION, "abc", "s3cre"]);
    expect((await raw.answer(1)).slice(1, 3)).toEqual([Status.Error, "ERR_AUTHENTICATION"]);
    await raw.closed;
  });

  it("the right token, from the option or the URL's password, is accepted", async () => {
    const a = new RemoteChannelLayer(broker.url, { token: "s3cret" });
    const b = createChannelLayer(broker.url.replace("tcp://", "tcp://:s3cret@"));
    await a.send("tok", { type: "hello" });
    expect((await b.receive("tok")).type).toBe("hello");
    expect((a as RemoteChannelLayer).url).not.toContain("s3cret");
    await Promise.all([a.close(), b.close()]);
  });
});

describe("TLS", () => {
  const dir = tempDir();
  let cert: Buffer;
  let server: BrokerServer;
  let url: string;

  beforeAll(async () => {
    // A throwaway self-signed certificate for 127.0.0.1, made now (nothing checked in can expire).
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1",
      "-keyout", join(dir.path, "key.pem"), "-out", join(dir.path, "cert.pem"),
    ], { stdio: "ignore" });
    cert = readFileSync(join(dir.path, "cert.pem"));
    server = new BrokerServer({ listen: "tls://127.0.0.1:0", tls: { cert, key: readFileSync(join(dir.path, "key.pem")) }, token: "t" });
    [url] = (await server.listen()) as [string];
  });
  afterAll(async () => {
    await server.close();
    dir.remove();
  });

  it("a client trusting the certificate talks to the broker over tls://", async () => {
    expect(url).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    const layer = createChannelLayer(url, { token: "t", tls: { ca: cert } });
    await layer.send("secure", { type: "over-tls", bytes: Buffer.from([1, 2, 3]) });
    const got = await layer.receive("secure");
    expect(got.type).toBe("over-tls");
    expect(Buffer.from(got.bytes as Uint8Array)).toEqual(Buffer.from([1, 2, 3]));
    await layer.close();
  });

  it("a client that does not trust the certificate never gets through, and says why", async () => {
    const layer = new RemoteChannelLayer(url, { token: "t", connectTimeout: 1000 });
    const err = await layer.send("secure", { type: "t" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as Error).message).toMatch(/self.signed/i);
    await layer.close();
  });

  it("refuses a tls:// listen address without a certificate and key", () => {
    expect(() => new BrokerServer({ listen: "tls://127.0.0.1:0" })).toThrow(/needs the tls option/);
  });
});

describe("binding", () => {
  it("defaults to loopback on the documented port, clear of Redis", () => {
    for (const url of [DEFAULT_LISTEN, "tcp://", "tcp://127.0.0.1"]) {
      expect(parseAddress(url)).toMatchObject({ kind: "tcp", host: "127.0.0.1", port: 6741 });
    }
    expect(DEFAULT_BROKER_PORT).toBe(6741);
    expect(parseAddress("unix:///run/broker.sock")).toMatchObject({ kind: "unix", path: "/run/broker.sock" });
    expect(() => parseAddress("http://x")).toThrow(/unknown scheme "http:"/);
  });
});
