/**
 * "grace-expired": the same broker, but the client was away longer than the
 * broker's localGrace, so the broker dropped its `!` channels and their
 * memberships. The client reaches the broker through a TCP relay this test
 * cuts and, after the grace, opens again.
 */
import { afterEach, describe, expect, it } from "vitest";
import { BrokerServer, RemoteChannelLayer } from "../../src/index.js";
import { sleep } from "../conformance/helpers.js";
import { relay } from "../remote/helpers.js";
import { groupSendsArrive, watch } from "./helpers.js";
import { waitFor } from "../wait.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("a client away longer than the broker's localGrace", () => {
  it("joins its groups again and emits gap with reason grace-expired", { timeout: 20_000 }, async () => {
    const broker = new BrokerServer({ listen: "tcp://127.0.0.1:0", localGrace: 200 });
    const [url] = await broker.listen();
    cleanups.push(() => broker.close());
    const brokerPort = Number(new URL(url!).port);
    let hop = await relay(brokerPort);
    const member = new RemoteChannelLayer(`tcp://127.0.0.1:${hop.port}`);
    const sender = new RemoteChannelLayer(url!);
    cleanups.push(() => member.close(), () => sender.close());
    const seen = watch(member);
    const me = await member.newChannel();
    await member.groupAdd("room", me);
    await groupSendsArrive(sender, member, "room", me, 2000);

    await hop.cut();
    await waitFor("reconnecting", () => member.state === "reconnecting", { timeout: 5000 });
    await waitFor("the broker forgot the member", () => broker.broker.stats().members === 0, { timeout: 5000 });
    await sleep(100);
    hop = await relay(brokerPort, hop.port);
    cleanups.push(() => hop.cut());

    await groupSendsArrive(sender, member, "room", me, 5000);
    await waitFor("gap", () => seen.gaps.length > 0, { timeout: 5000 });
    expect(seen.states).toEqual(["connecting", "ready", "reconnecting", "ready"]);
    expect(seen.gaps.map((g) => g.reason)).toEqual(["grace-expired"]);
  });
});
