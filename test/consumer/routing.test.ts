import { describe, expect, it } from "vitest";
import { compilePath, Router } from "../../src/consumer/routing.js";

describe("routing by path", () => {
  it("matches literal paths, with or without a trailing slash", () => {
    const p = compilePath("/ws/echo");
    expect(p.match("/ws/echo")).toEqual({});
    expect(p.match("/ws/echo/")).toEqual({});
    expect(p.match("/ws/echoes")).toBeUndefined();
    expect(p.match("/ws")).toBeUndefined();
  });

  it("gives each :param one decoded path segment", () => {
    const p = compilePath("/ws/chat/:room/:user");
    expect(p.match("/ws/chat/lobby/ann")).toEqual({ room: "lobby", user: "ann" });
    expect(p.match("/ws/chat/a%20b/%C3%A9")).toEqual({ room: "a b", user: "é" });
    expect(p.match("/ws/chat/lobby")).toBeUndefined();
    expect(p.match("/ws/chat//ann")).toBeUndefined();
    expect(p.match("/ws/chat/a/b/c")).toBeUndefined();
  });

  it("treats regex characters in literal segments literally", () => {
    expect(compilePath("/v1.0/x").match("/v1x0/x")).toBeUndefined();
    expect(compilePath("/v1.0/x").match("/v1.0/x")).toEqual({});
  });

  it("is no match, not a crash, on bad percent-encoding", () => {
    expect(compilePath("/:room").match("/%E0%A4%A")).toBeUndefined();
  });

  it("refuses malformed patterns", () => {
    expect(() => compilePath("ws/echo")).toThrow(TypeError);
    expect(() => compilePath("/:a/:a")).toThrow(/twice/);
    expect(() => compilePath("/x:y")).toThrow(/bad parameter/);
  });

  it("picks the first route that matches", () => {
    const router = new Router([{ path: "/ws/chat/admin", id: 1 }, { path: "/ws/chat/:room", id: 2 }]);
    expect(router.match("/ws/chat/admin")?.route.id).toBe(1);
    expect(router.match("/ws/chat/lobby")).toMatchObject({ route: { id: 2 }, params: { room: "lobby" } });
    expect(router.match("/elsewhere")).toBeUndefined();
  });
});
