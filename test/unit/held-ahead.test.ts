/**
 * What the broker keeps of the messages it handed one client (src/protocol/ahead.ts)
 * and the sends that wait on it (src/protocol/settling.ts), against a
 * recording engine: a channel handed a message and settling it again and
 * again keeps its record, is a holder only while it holds something, and
 * the records of empty channels stay bounded.
 */
import { describe, expect, it } from "vitest";
import { HeldAhead } from "../../src/protocol/ahead.js";
import { Settling } from "../../src/protocol/settling.js";

function setup() {
  const settled: Array<[string, number, number]> = [];
  const engine = {
    epoch: 0,
    settle: (channel: string, took: number, back: readonly Buffer[] = []) => void settled.push([channel, took, back.length]),
  };
  // Every channel is full but for what is held ahead: a send waits for its holders.
  const settling = new Settling({ fullAhead: () => true, groupMembers: () => undefined });
  const ahead = new HeldAhead(engine, settling);
  const hand = (channel: string, n = 1) => {
    for (let i = 0; i < n; i++) ahead.handed(channel, Buffer.from([i]), 0, 0, i);
  };
  // The records it keeps, private: the bound is what is tested.
  const records = () => (ahead as unknown as { channels: Map<string, unknown> }).channels.size;
  return { settled, settling, ahead, hand, records };
}

describe("what the broker holds for a client", () => {
  it("is a holder of a channel only while it holds something there, through many hands and settles", () => {
    const { settled, settling, ahead, hand } = setup();
    for (let round = 0; round < 100; round++) {
      hand("c");
      expect(ahead.holds("c")).toBe(1);
      let met = false;
      expect(settling.forSend("c", () => (met = true))).toBeDefined();
      ahead.settle("c", 1, false);
      expect(met).toBe(true);
      expect(ahead.holds("c")).toBe(0);
      expect(settling.forSend("c", () => {})).toBeUndefined();
    }
    expect(settled).toHaveLength(100);
    expect(() => ahead.settle("c", 1, false)).toThrow(/took 1 messages of "c" but holds 0/);
  });

  it("gives back in order after being emptied and handed again", () => {
    const { settled, ahead, hand } = setup();
    hand("c", 3);
    ahead.settle("c", 3, false);
    hand("c", 2);
    ahead.settle("c", 1, true);
    expect(settled).toEqual([["c", 3, 0], ["c", 1, 1]]);
    expect(ahead.holds("c")).toBe(0);
  });

  it("drops the records of empty channels once they outnumber the rest, past a floor", () => {
    const { ahead, hand, records } = setup();
    hand("kept", 2);
    for (let i = 0; i < 20_000; i++) {
      hand(`c${i}`);
      ahead.settle(`c${i}`, 1, false);
    }
    expect(records()).toBeLessThanOrEqual(4098);
    expect(ahead.holds("kept")).toBe(2);
    ahead.giveBackAll();
    expect(ahead.holds("kept")).toBe(0);
  });
});
