import { expect, it } from "vitest";
import { InMemoryChannelLayer, type Message } from "../../src/index.js";

it("a dead letter for a skipped group member holds its own copy, not a delivered member's message (docs/semantics.md §2.8)", async () => {
  const layer = new InMemoryChannelLayer({ capacity: 1, deadLetters: { channel: "dead", capacity: 10 } });
  try {
    for (const member of ["full", "b", "c"]) await layer.groupAdd("g", member);
    await layer.send("full", { type: "fill" }); // "full" is skipped: its delivery becomes a dead letter
    await layer.groupSend("g", { type: "say", n: 1 });
    const letter = await layer.receive("dead");
    const b = await layer.receive("b");
    b.n = 2; // b changes its own message
    expect(letter.message).toEqual({ type: "say", n: 1 });
    expect(await layer.receive("c")).toEqual({ type: "say", n: 1 });
    (letter.message as Message).n = 3;
    expect(b).toEqual({ type: "say", n: 2 });
  } finally {
    await layer.close();
  }
});
