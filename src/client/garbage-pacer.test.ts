import { describe, expect, test } from "bun:test";
import { FULL_EVERY, GarbagePacer } from "./garbage-pacer.ts";

const MiB = 1024 * 1024;

/** A process whose resident size only grows (what no collection gives back), recording the collections asked for. */
function growingProcess() {
  const state = { rss: 100 * MiB, kinds: [] as ("full" | "young")[] };
  return {
    state,
    collector: { residentBytes: () => state.rss, collect: (full: boolean) => state.kinds.push(full ? "full" : "young") },
  };
}

describe("garbage pacer", () => {
  test("nothing is collected below the budget", () => {
    const { state, collector } = growingProcess();
    const pacer = new GarbagePacer(collector);
    state.rss += 7 * MiB;
    pacer.check();
    expect(state.kinds).toEqual([]);
  });

  test("growth no collection gives back: one collection per 2 MiB of it, one in FULL_EVERY a full one", () => {
    const { state, collector } = growingProcess();
    const pacer = new GarbagePacer(collector);
    for (let i = 0; i < 40; i++) {
      state.rss += 1 * MiB;
      pacer.check();
    }
    // 40 MiB of growth: the first at 8 MiB, then one each 2 MiB the floor rises
    expect(state.kinds.length).toBe(17);
    expect(state.kinds.filter((k) => k === "full").length).toBe(Math.floor(17 / FULL_EVERY));
    expect(state.kinds.slice(0, FULL_EVERY)).toEqual([...Array(FULL_EVERY - 1).fill("young"), "full"]);
  });
});
