/**
 * Attack-table rows 2 and 3: a hello claiming another client's instance id
 * (ids are listed by Stats(top)), and a token holder flushing everyone or
 * removing other clients' channels from their groups.
 */
import { afterEach, describe, expect, it } from "vitest";
import { AuthenticationError, BrokerServer, ForbiddenError, RemoteChannelLayer } from "../../../src/index.js";
import { parseTokenFile } from "../../../src/protocol/auth.js";
import { Op, PROTOCOL_VERSION, Status, type BrokerDetails, type HelloInfo } from "../../../src/protocol/ops.js";
import { rawClient, startBroker, type RawClient } from "../helpers.js";

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
    spy.send([Op.Hello, 1, PROTOCOL_VERSION, "spy1", null], [Op.Stats, 2, 10]);
    const details = (await spy.answer(2))[2] as BrokerDetails;
    const id = victim.instanceId;
    expect(details.clientList.map((c) => c.instance)).toContain(id);
    // Stats name instances, never their secrets (not even the asker's own).
    const ownSecret = (spy.frames[0]![2] as HelloInfo).secret!;
    expect(JSON.stringify(details)).not.toMatch(/secret/);
    expect(JSON.stringify(details)).not.toContain(ownSecret);

    const thief = raw(url);
    thief.send([Op.Hello, 1, PROTOCOL_VERSION, id, null], [Op.Receive, 2, mine]);
    const [, status, code, message] = await thief.answer(1);
    expect([status, code]).toEqual([Status.Error, "ERR_AUTHENTICATION"]);
    expect(message).toMatch(/belongs to another client/);
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

  it("the client that holds the secret says hello again as its instance, within the grace period", async () => {
    const { url } = await broker({ localGrace: 5000 });
    const first = raw(url);
    first.send([Op.Hello, 1, PROTOCOL_VERSION, "inst42", null]);
    const info = (await first.answer(1))[2] as HelloInfo;
    expect(info.secret).toMatch(/^[\w-]{20,}$/);
    // A second connection of the same instance, while the first is live, with the secret.
    const second = raw(url);
    second.send([Op.Hello, 1, PROTOCOL_VERSION, "inst42", null, info.secret]);
    expect((await second.answer(1))[1]).toBe(Status.Ok);
    first.socket.destroy();
    second.socket.destroy();
    await Promise.all([first.closed, second.closed]);
    // Within the grace period: only with the secret.
    const other = raw(url);
    other.send([Op.Hello, 1, PROTOCOL_VERSION, "inst42", null]);
    expect((await other.answer(1)).slice(1, 3)).toEqual([Status.Error, "ERR_AUTHENTICATION"]);
    const back = raw(url);
    back.send([Op.Hello, 1, PROTOCOL_VERSION, "inst42", null, info.secret]);
    expect((await back.answer(1))[1]).toBe(Status.Ok);
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
