// Feeding tar: views that follow each other in one buffer go as one write.
import { describe, expect, test } from "bun:test";
import { adjacentRuns } from "./tar-extraction.ts";

describe("adjacentRuns", () => {
  test("adjacent views of one buffer join; a gap, another buffer or a view out of order starts a new run", () => {
    const a = new Uint8Array(100).map((_, i) => i);
    const b = new Uint8Array(10);
    const runs = adjacentRuns([
      a.subarray(0, 10),
      a.subarray(10, 30),
      a.subarray(30, 31),
      a.subarray(40, 50),
      b,
      a.subarray(50, 60),
      a.subarray(20, 25),
    ]);
    expect(runs.map((r) => [r.buffer === a.buffer ? "a" : "b", r.byteOffset, r.length])).toEqual([
      ["a", 0, 31],
      ["a", 40, 10],
      ["b", 0, 10],
      ["a", 50, 10],
      ["a", 20, 5],
    ]);
    expect(runs[0]).toEqual(a.subarray(0, 31));
    expect(adjacentRuns([])).toEqual([]);
  });
});
