/**
 * Attack-table rows 2 and 3: a hello claiming another client's instance id
 * (ids are listed by Stats(top)), while it is connected, after its grace and
 * after a broker restart, and a token holder flushing everyone or
 * removing other clients' channels from their groups.
 */
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { AuthenticationError, BrokerServer, ForbiddenError, RemoteChannelLayer } from "../../../src/index.js";
import { parseTokenFile } from "../../../src/protocol/auth.js";
import { Op, PROTOCOL_VERSION, Status, type BrokerDetails, type HelloInfo } from "../../../src/protocol/ops.js";
import { instanceIdOf, newInstanceSecret } from "../../../src/protocol/identity.js";
import { groupSendsArrive, watch } from "../../heal/helpers.js";
import { hello, rawClient, relay, startBroker, type RawClient } from "../helpers.js";
import { waitFor } from "../../wait.js";

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  // Clients first, then brokers: a layer closed while its broker shuts down can wait on it (seen on main too).
  const all = open.splice(0);
  await Promise.all(all.filter((x) => !(x instanceof BrokerServer)).map((x) => x.close()));
  await Promise.all(all.filter((x) => x instanceof BrokerServer).map((x) => x.close()));
});

async function broker(options: Parameters<typeof startBroker>[0] = {}): Promise<{ server: BrokerServer; url: string }> {
  const b = await startBroker(options);
  open.push(b.server);
  return b;
}

const secretOf = (layer: RemoteChannelLayer): string => (layer as unknown as { secret: string }).secret;

function raw(url: string): RawClient {
  const r = rawClient(url);
  open.push({ close: () => r.socket.destroy() });
  return r;
}

describe("identity", () => {
  it("a hello claiming a live client's instance id is refused; the victim gets every message", async () => {
    const { url } = await broker();
    const victim = new RemoteChannelLayer(url);
    open.push(victim);
    const mine = await victim.newChannel();
    // The attacker finds the victim's instance id in stats, as the attack did.
    const spy = raw(url);
    spy.send(hello(newInstanceSecret()), [Op.Stats, 2, 10]);
    const details = (await spy.answer(2))[2] as BrokerDetails;
    const id = victim.instanceId;
    expect(details.clientList.map((c) => c.instance)).toContain(id);
    // Stats name instances, never their secrets.
    expect(JSON.stringify(details)).not.toContain(secretOf(victim));

    const thief = raw(url);
    thief.send([Op.Hello, 1, PROTOCOL_VERSION, id, null], [Op.Receive, 2, mine]);
    const [, status, code, message] = await thief.answer(1);
    expect([status, code]).toEqual([Status.Error, "ERR_AUTHENTICATION"]);
    expect(message).toMatch(/not the one derived from the secret presented/);
    await thief.closed;
    // With a guessed secret too.
    const guesser = raw(url);
    guesser.send([Op.Hello, 1, PROTOCOL_VERSION, id, null, "guess"]);
    expect((await guesser.answer(1)).slice(1, 3)).toEqual([Status.Error, "ERR_AUTHENTICATION"]);

    const sender = new RemoteChannelLayer(url);
    open.push(sender);
    for (let i = 0; i < 21; i++) await sender.send(mine, { type: "m", i });
    const got: number[] = [];
    for (let i = 0; i < 21; i++) got.push((await victim.receive(mine)).i as number);
    expect(got).toEqual([...Array(21).keys()]);
  });

  it("the id is the derivation of the secret: sha256(\"channel-layers/instance/\" + secret), hex, 16 characters", () => {
    const secret = newInstanceSecret();
    expect(Buffer.from(secret, "base64url")).toHaveLength(24);
    expect(instanceIdOf(secret)).toBe(createHash("sha256").update(`channel-layers/instance/${secret}`).digest("hex").slice(0, 16));
    // A fixed vector, for clients written in other languages (docs/broker.md "Instance identity").
    expect(instanceIdOf("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).toBe("76810c5b30099363");
    expect(new RemoteChannelLayer("tcp://127.0.0.1:1", { connectTimeout: 50 }).instanceId).toMatch(/^[0-9a-f]{16}$/);
  });

  it("the client that holds the secret says hello again as its instance, while connected and within the grace period", async () => {
    const { url } = await broker({ localGrace: 5000 });
    const first = raw(url);
    first.send(hello("inst42"));
    expect((await first.answer(1))[1]).toBe(Status.Ok);
    // A second connection of the same instance, while the first is live, with the secret.
    const second = raw(url);
    second.send(hello("inst42"));
    expect(((await second.answer(1))[2] as HelloInfo).resumed).toBe(true);
    first.socket.destroy();
    second.socket.destroy();
    await Promise.all([first.closed, second.closed]);
    // Within the grace period: only with the secret.
    const other = raw(url);
    other.send([Op.Hello, 1, PROTOCOL_VERSION, instanceIdOf("inst42"), null]);
    expect((await other.answer(1)).slice(1, 3)).toEqual([Status.Error, "ERR_AUTHENTICATION"]);
    const back = raw(url);
    back.send(hello("inst42"));
    expect(((await back.answer(1))[2] as HelloInfo).resumed).toBe(true);
  });

  it("after the victim's grace expired, and after a broker restart, a hello as its id is refused and gets nothing; the victim heals", { timeout: 20_000 }, async () => {
    const first = await broker({ localGrace: 200 });
    const port = Number(new URL(first.url).port);
    let hop = await relay(port);
    open.push({ close: () => hop.cut() });
    const victim = new RemoteChannelLayer(`tcp://127.0.0.1:${hop.port}`, { maxReconnectDelay: 200 });
    const sender = new RemoteChannelLayer(first.url, { maxReconnectDelay: 200 });
    open.push(victim, sender);
    const seen = watch(victim);
    const mine = await victim.newChannel();
    await victim.groupAdd("room", mine);
    await groupSendsArrive(sender, victim, "room", mine, 2000);

    /** The attacker knows the id (stats, channel names) but not the secret: it says hello as the id, and asks for the victim's channel. */
    const attack = async (): Promise<void> => {
      for (const secret of [undefined, "guess", newInstanceSecret()]) {
        const thief = raw(first.url);
        thief.send([Op.Hello, 1, PROTOCOL_VERSION, victim.instanceId, null, ...(secret === undefined ? [] : [secret])], [Op.Receive, 2, mine]);
        expect((await thief.answer(1)).slice(1, 3)).toEqual([Status.Error, "ERR_AUTHENTICATION"]);
        await sender.send(mine, { type: "for the victim" });
        await sender.groupSend("room", { type: "for the room" });
        await thief.closed;
        expect(thief.frames).toHaveLength(1); // the refusal, nothing else
      }
    };

    // 1. Past the grace: the broker forgot the victim's instance.
    await hop.cut();
    await waitFor("the broker forgot the victim", () => first.server.broker.stats().members === 0, { timeout: 5000 });
    await attack();
    hop = await relay(port, hop.port);
    expect(await groupSendsArrive(sender, victim, "room", mine, 5000)).toBeLessThan(5000);
    await waitFor("gap", () => seen.gaps.length === 1, { timeout: 5000 });
    expect(seen.gaps[0]!.reason).toBe("grace-expired");

    // 2. A broker restart: a new broker on the same port knows nobody.
    await hop.cut();
    await first.server.close();
    const second = await broker({ listen: `tcp://127.0.0.1:${port}` });
    expect(second.url).toBe(first.url);
    await attack();
    hop = await relay(port, hop.port);
    expect(await groupSendsArrive(sender, victim, "room", mine, 5000)).toBeLessThan(5000);
    await waitFor("gap", () => seen.gaps.length === 2, { timeout: 5000 });
    expect(seen.gaps[1]!.reason).toBe("broker-restarted");
    expect(victim.state).toBe("ready");
  });
});

describe("per-token permissions", () => {
  const tokens = parseTokenFile(
    [
      "# token      rights",
      "ops-token    admin send=* receive=* group=*",
      "web-token    send=chat.* receive=chat.* group=room.*",
      "",
    ].join("\n"),
    "tokens.txt",
  );

  it("a token without admin cannot flush, and stays inside its patterns", async () => {
    const { url } = await broker({ tokens });
    const ops = new RemoteChannelLayer(url, { token: "ops-token" });
    const web = new RemoteChannelLayer(url, { token: "web-token" });
    open.push(ops, web);
    await ops.send("orders", { type: "keep" });
    await ops.groupAdd("room.1", "orders");

    // A refusal of a right is ForbiddenError (ERR_FORBIDDEN), not a refused token: the connection stays up.
    await expect(web.flush()).rejects.toThrow(ForbiddenError);
    await expect(web.flush()).rejects.toMatchObject({ code: "ERR_FORBIDDEN", message: expect.stringMatching(/flush the broker \(an admin right\)/) });
    await expect(web.send("orders", { type: "x" })).rejects.toThrow(ForbiddenError);
    await expect(web.send("orders", { type: "x" })).rejects.toThrow(/not allow it to send to channel "orders"/);
    await expect(web.receive("orders")).rejects.toThrow(ForbiddenError);
    // Cannot take other clients' channels out of their groups.
    await expect(web.groupDiscard("room.1", "orders")).rejects.toThrow(ForbiddenError);
    await expect(web.groupAdd("lobby", "chat.a")).rejects.toThrow(ForbiddenError);
    await expect(web.groupSend("lobby", { type: "x" })).rejects.toThrow(ForbiddenError);
    await expect(web.groupSend("lobby", { type: "x" })).rejects.toThrow(/send to group "lobby"/);
    expect(await web.send("orders", { type: "x" }).catch((e: unknown) => e)).not.toBeInstanceOf(AuthenticationError);
    // Inside its patterns, and its own process-local channels, all works.
    await web.send("chat.a", { type: "hi" });
    expect((await web.receive("chat.a")).type).toBe("hi");
    const mine = await web.newChannel();
    await web.groupAdd("room.1", mine);
    await web.groupSend("room.1", { type: "to-room" });
    expect((await web.receive(mine)).type).toBe("to-room");
    // Its stats show only its own connection; an admin's show everyone.
    expect((await web.details(10)).clientList.map((c) => c.instance)).toEqual([web.instanceId]);
    expect((await ops.details(10)).clientList).toHaveLength(2);
    // Nothing of ops' was touched; an admin may flush.
    expect((await ops.receive("orders")).type).toBe("keep");
    expect((await ops.receive("orders")).type).toBe("to-room");
    await ops.flush();
  });

  it("one bare token keeps its meaning: everything", async () => {
    const { url } = await broker({ tokens: parseTokenFile("only-one\n", "t") });
    const l = new RemoteChannelLayer(url, { token: "only-one" });
    open.push(l);
    await l.send("anything", { type: "x" });
    await l.flush();
    await expect(new RemoteChannelLayer(url, { token: "nope", connectTimeout: 500 }).send("a", { type: "x" })).rejects.toThrow(AuthenticationError);
  });

  it("a token file with a bad word says which line", () => {
    expect(() => parseTokenFile("a send=x\nb write=y\n", "t.txt")).toThrow(/^--token-file t\.txt line 2: "write=y" is not admin/);
  });
});
