/** cookieAuth: a session cookie in the handshake becomes scope.user; no cookie, an unknown one, or another site's page gets nothing. */
import { afterEach, expect, it } from "vitest";
import { cookieAuth, InMemoryChannelLayer, JsonWebSocketConsumer, type WebSocketApp } from "../../src/index.js";
import { WebSocketCommunicator } from "../../src/testing/index.js";

const layers: InMemoryChannelLayer[] = [];
afterEach(async () => {
  for (const layer of layers.splice(0)) await layer.close();
});

class WhoAmI extends JsonWebSocketConsumer {
  override connect(): void {
    this.accept();
    this.sendJson({ user: this.scope.user as string });
  }
}

const sessions = new Map([["s3cret", "ann"]]);
const asked: string[] = [];

function app(): WebSocketApp {
  const layer = new InMemoryChannelLayer();
  layers.push(layer);
  const authenticate = cookieAuth("sessionid", (session) => {
    asked.push(session);
    if (session === "boom") throw new Error("session store down");
    return sessions.get(session);
  });
  return { layer, authenticate, onError: () => {}, log: () => {}, routes: [{ path: "/ws", consumer: WhoAmI }] };
}

const visit = (a: WebSocketApp, cookie: string | undefined, origin = "http://localhost") =>
  new WebSocketCommunicator(a, "/ws", { origin, headers: cookie === undefined ? {} : { cookie } });

it("the session cookie's user becomes scope.user; the other cookies are ignored", async () => {
  const c = visit(app(), 'theme=dark; sessionid="s3cret"; csrftoken=x');
  expect(await c.connect()).toEqual({ accepted: true });
  expect(await c.receiveJson()).toEqual({ user: "ann" });
  await c.disconnect();
});

it("no cookie, an unknown session, or one that does not decode: 401, and lookup is not asked without one", async () => {
  const a = app();
  asked.length = 0;
  expect(await visit(a, undefined).connect()).toEqual({ accepted: false, status: 401 });
  expect(await visit(a, "sessionidx=s3cret; other=1").connect()).toEqual({ accepted: false, status: 401 });
  expect(await visit(a, "sessionid=%E0%A4%A").connect()).toEqual({ accepted: false, status: 401 });
  expect(asked).toEqual([]);
  expect(await visit(a, "sessionid=nobody").connect()).toEqual({ accepted: false, status: 401 });
  expect(await visit(a, "sessionid=boom").connect()).toEqual({ accepted: false, status: 403 });
  expect(asked).toEqual(["nobody", "boom"]);
});

it("another site's page with the user's cookie is refused before the session is looked up", async () => {
  asked.length = 0;
  expect(await visit(app(), "sessionid=s3cret", "https://evil.example").connect()).toEqual({ accepted: false, status: 403 });
  expect(asked).toEqual([]);
});

it("refuses a name that is no cookie name when made", () => {
  expect(() => cookieAuth("has space", () => "x")).toThrow(TypeError);
  expect(() => cookieAuth("", () => "x")).toThrow(TypeError);
});
