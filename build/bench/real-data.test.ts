import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { freezeCorpus, loadCorpus } from "./real-corpus.ts";
import { prepareData } from "./scenarios.ts";
import { scratchDir as tmp, treeDigest as digest } from "./tree-digest.ts";

/** A corpus of 120 small text files (one of them binary) and one program-like file, frozen into base/corpus. */
function smallCorpus(base: string): string {
  const source = path.join(base, "source");
  const files: { file: string; part: "small" | "binary" }[] = [];
  for (let i = 0; i < 120; i++) {
    const file = path.join(source, `d${i % 7}`, `f${i}.${i === 5 ? "gz" : "h"}`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const lines = Array.from({ length: 20 + (i % 13) }, (_, j) => `#define NAME_${i}_${j} ${i * j} /* line ${j} of file ${i} */`);
    fs.writeFileSync(file, i === 5 ? Buffer.from([0x1f, 0x8b, 0, 1, 2, 0, 3]) : `${lines.join("\n")}\n`);
    files.push({ file, part: "small" });
  }
  const program = path.join(source, "bin", "tool");
  fs.mkdirSync(path.dirname(program), { recursive: true });
  fs.writeFileSync(program, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(5000, 7)]));
  files.push({ file: program, part: "binary" });
  const dir = path.join(base, "corpus");
  freezeCorpus(dir, files);
  return dir;
}

describe("real-files data set", () => {
  test("the same corpus and seed write the same tree; C edits 1%, adds 20, deletes 10; D touches only the image", () => {
    const base = tmp();
    try {
      const corpus = smallCorpus(base);
      const options = { seed: 3, scale: 0.005, files: 0, corpus };
      const a = prepareData("real", options, path.join(base, "a"));
      prepareData("real", options, path.join(base, "b"));
      expect(digest(path.join(base, "a"))).toEqual(digest(path.join(base, "b")));
      expect(a.scenarios.map((s) => s.id)).toEqual(["A", "B", "C", "D", "E", "R"]);
      expect(a.summary.smallFiles).toBe(40); // the least a scale gives: 20 held back for C, 10 deleted
      expect(a.summary.corpus!.files).toBe(121);
      const before = digest(path.join(base, "a"));
      const c = a.scenarios[2]!.mutate!().mutationC!;
      const after = digest(path.join(base, "a"));
      expect(c.edited).toHaveLength(1);
      expect(c.added).toHaveLength(20);
      expect(c.deleted).toHaveLength(10);
      const changed = [...after.keys()].filter((k) => before.has(k) && after.get(k) !== before.get(k));
      expect(changed).toEqual(c.edited);
      expect([...after.keys()].filter((k) => !before.has(k)).sort()).toEqual([...c.added].sort());
      expect([...before.keys()].filter((k) => !after.has(k)).sort()).toEqual([...c.deleted].sort());
      expect(c.changedGzip).toBeGreaterThan(0);
      expect(c.changedGzip).toBeLessThan(c.wholeFilesGzip);
      const d = a.scenarios[3]!.mutate!().mutationD!;
      const afterD = digest(path.join(base, "a"));
      expect([...afterD.keys()].filter((k) => afterD.get(k) !== after.get(k))).toEqual(["images/disk.img"]);
      expect(d.changedBytes).toBe(16 * 4096);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  }, 30_000);

  test("a corpus whose bytes changed is refused", () => {
    const base = tmp();
    try {
      const corpus = smallCorpus(base);
      expect(loadCorpus(corpus).entries).toHaveLength(121);
      const victim = loadCorpus(corpus).entries[3]!;
      fs.appendFileSync(path.join(corpus, "files", victim.path), "x");
      expect(() => loadCorpus(corpus)).toThrow(/corpus .* changed/);
      expect(() => prepareData("real", { seed: 1, scale: 1, files: 0, corpus }, path.join(base, "t"))).toThrow(/changed/);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
