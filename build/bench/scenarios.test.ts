import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { prepareData } from "./scenarios.ts";
import { scratchDir as tmp, treeDigest as digest } from "./tree-digest.ts";

describe("bench data sets and scenario E", () => {
  test("many-files: the same seed writes the same tree, folders of 1,000, every file under 4 KiB; E appends one line to one file", () => {
    const [a, b] = [tmp(), tmp()];
    try {
      const first = prepareData("many-files", { seed: 1, scale: 1, files: 1200 }, path.join(a, "t"));
      prepareData("many-files", { seed: 1, scale: 1, files: 1200 }, path.join(b, "t"));
      expect(digest(path.join(a, "t"))).toEqual(digest(path.join(b, "t")));
      expect(first.summary.files).toBe(1200);
      expect(first.scenarios.map((s) => s.id)).toEqual(["A", "B", "E"]);
      const sizes = [...digest(path.join(a, "t")).keys()].map((rel) => fs.statSync(path.join(a, "t", rel)).size);
      expect(sizes).toHaveLength(1200);
      expect(Math.max(...sizes)).toBeLessThan(4096);
      expect(fs.readdirSync(path.join(a, "t", "g000")).sort()).toEqual(["d00000", "d00001"]);
      const before = digest(path.join(a, "t"));
      const e = first.scenarios[2]!.mutate!().mutationE!;
      const after = digest(path.join(a, "t"));
      expect([...after.keys()].filter((k) => after.get(k) !== before.get(k))).toEqual([e.file]);
      const text = fs.readFileSync(path.join(a, "t", e.file), "utf8");
      expect(text.endsWith("\n")).toBe(true);
      expect(text.split("\n").at(-2)!.length + 1).toBe(e.lineBytes);
    } finally {
      for (const d of [a, b]) fs.rmSync(d, { recursive: true, force: true });
    }
  }, 30_000);

  test("standard: scenarios A to E; E changes exactly one small file, by one line", () => {
    const a = tmp();
    try {
      const data = prepareData("standard", { seed: 1, scale: 0.002, files: 0 }, path.join(a, "t"));
      expect(data.scenarios.map((s) => s.id)).toEqual(["A", "B", "C", "D", "E", "R"]);
      const before = digest(path.join(a, "t"));
      const e = data.scenarios[4]!.mutate!().mutationE!;
      const after = digest(path.join(a, "t"));
      expect([...after.keys()].filter((k) => after.get(k) !== before.get(k))).toEqual([e.file]);
    } finally {
      fs.rmSync(a, { recursive: true, force: true });
    }
  });
});
