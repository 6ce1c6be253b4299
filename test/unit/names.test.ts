import { describe, expect, it } from "vitest";
import { InvalidChannelNameError, InvalidGroupNameError } from "../../src/errors.js";
import {
  assertChannelName,
  assertGroupName,
  assertOwnChannel,
  isProcessLocal,
  makeChannelName,
  nonLocalName,
  ownerOf,
  ownsChannel,
} from "../../src/names.js";

describe("names (SPEC §2)", () => {
  it("the non-local part runs up to and including the !", () => {
    expect(nonLocalName("specific.abc!xyz")).toBe("specific.abc!");
    expect(nonLocalName("plain")).toBe("plain");
    expect(isProcessLocal("a!b")).toBe(true);
    expect(isProcessLocal("a.b")).toBe(false);
  });

  it("newChannel names carry the instance id and belong to that instance only", () => {
    const name = makeChannelName("chat", "inst1");
    expect(name).toMatch(/^chat\.inst1![A-Za-z0-9]{12}$/);
    expect(ownsChannel(name, "inst1")).toBe(true);
    expect(ownsChannel(name, "inst2")).toBe(false);
    expect(ownsChannel("chat.xinst1!abc", "inst1")).toBe(false);
  });

  it("the owner of a process-local name is the part between its last dot and the !; other names have none", () => {
    expect(ownerOf(makeChannelName("a.b", "inst1"))).toBe("inst1");
    expect(ownerOf("chat.inst1!")).toBe("inst1");
    expect(ownerOf("inst1!x")).toBeUndefined();
    expect(ownerOf("chat.inst1")).toBeUndefined();
  });

  it("one owner check: another instance's ! channel is refused with whose it is, the owner's and normal channels pass", () => {
    const name = makeChannelName("chat", "inst1");
    expect(() => assertOwnChannel(name, "inst1")).not.toThrow();
    expect(() => assertOwnChannel("chat.plain", "inst2")).not.toThrow();
    expect(() => assertOwnChannel(name, "inst2")).toThrow(InvalidChannelNameError);
    expect(() => assertOwnChannel(name, "inst2")).toThrow(/another layer instance \(this one is "inst2"\).*can receive from it/);
    expect(() => assertOwnChannel(name, "inst2", "listen on it")).toThrow(/can listen on it$/);
  });

  it("a name that passed once is still checked for what it is (cache holds valid names only)", () => {
    assertChannelName("cached.name");
    assertChannelName("cached.name");
    expect(() => assertChannelName("bad name")).toThrow(InvalidChannelNameError);
    expect(() => assertChannelName("bad name")).toThrow(InvalidChannelNameError);
  });

  it("group names refuse ! and channel names accept one !", () => {
    expect(() => assertGroupName("a!b")).toThrow(InvalidGroupNameError);
    expect(() => assertChannelName("a!b")).not.toThrow();
    expect(() => assertChannelName("a!")).not.toThrow();
    expect(() => assertChannelName("a!b!")).toThrow(InvalidChannelNameError);
  });
});
