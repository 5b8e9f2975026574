import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { mutateSmallFiles, overwriteImageBlocks, planDataset, writeDataset } from "./dataset.ts";

const SCALE = 0.002; // 40 small files, 12 small binaries, a 1 MiB image: well under a second

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-bench-"));
}

/** Relative path → SHA-256 of the content, for every file under root. */
function digest(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else
        out.set(
          r,
          createHash("sha256")
            .update(fs.readFileSync(path.join(root, r)))
            .digest("hex"),
        );
    }
  };
  walk("");
  return out;
}

describe("bench data set", () => {
  test("the same seed writes the same tree; another seed another one", () => {
    const [a, b, c] = [tmp(), tmp(), tmp()];
    try {
      const summary = writeDataset(path.join(a, "t"), planDataset({ seed: 1, scale: SCALE }));
      writeDataset(path.join(b, "t"), planDataset({ seed: 1, scale: SCALE }));
      writeDataset(path.join(c, "t"), planDataset({ seed: 2, scale: SCALE }));
      const da = digest(path.join(a, "t"));
      expect(da.size).toBe(summary.files);
      expect(summary.files).toBe(40 + 12 + 1);
      expect([...digest(path.join(b, "t"))]).toEqual([...da]);
      // Another seed: every file differs but a tiny binary that can be all erase padding (0xFF) at this scale.
      expect([...digest(path.join(c, "t")).values()].filter((h) => [...da.values()].includes(h)).length).toBeLessThanOrEqual(1);
    } finally {
      for (const d of [a, b, c]) fs.rmSync(d, { recursive: true, force: true });
    }
  });

  test("small files are line-structured text that gzip shrinks like real text (2.5-6x), not random bytes", () => {
    const dir = tmp();
    try {
      const plan = planDataset({ seed: 3, scale: 0.01 });
      writeDataset(dir, plan);
      const text = Buffer.concat(plan.small.map((f) => fs.readFileSync(path.join(dir, f.path))));
      const ratio = text.length / gzipSync(text, { level: 6 }).length;
      expect(ratio).toBeGreaterThan(2.5);
      expect(ratio).toBeLessThan(6);
      expect(text.toString("latin1")).toMatch(/^[\x09\x0a\x20-\x7e]*$/);
      expect(text.toString("latin1").split("\n").length).toBeGreaterThan(text.length / 200);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("scenario C edits 2-4 lines in 1% of the small files, adds 20 and deletes 10", () => {
    const dir = tmp();
    try {
      const plan = planDataset({ seed: 1, scale: 0.01 }); // 200 small files: 2 edited
      writeDataset(dir, plan);
      const before = new Map(plan.small.map((f) => [f.path, fs.readFileSync(path.join(dir, f.path), "utf8")]));
      const m = mutateSmallFiles(dir, plan);
      expect(m.edited.length).toBe(2);
      for (const p of m.edited) {
        const old = before.get(p)!.split("\n");
        const now = fs.readFileSync(path.join(dir, p), "utf8").split("\n");
        expect(now.length).toBe(old.length);
        const changed = now.filter((l, i) => l !== old[i]).length;
        expect(changed).toBeGreaterThanOrEqual(2);
        expect(changed).toBeLessThanOrEqual(4);
      }
      expect(m.added.length).toBe(20);
      for (const p of m.added) expect(before.has(p) || !fs.existsSync(path.join(dir, p))).toBe(false);
      expect(m.deleted.length).toBe(10);
      for (const p of m.deleted) expect(fs.existsSync(path.join(dir, p))).toBe(false);
      expect(new Set([...m.edited, ...m.deleted]).size).toBe(12);
      expect(plan.small.length).toBe(200 + 20 - 10);
      expect(m.changedGzip).toBeGreaterThan(0);
      expect(m.changedGzip).toBeLessThan(m.wholeFilesGzip);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("scenario D changes exactly 16 aligned 4 KiB blocks of the image and nothing else", () => {
    const dir = tmp();
    try {
      const plan = planDataset({ seed: 1, scale: SCALE });
      writeDataset(dir, plan);
      const image = path.join(dir, plan.image.path);
      const before = fs.readFileSync(image);
      const m = overwriteImageBlocks(dir, plan);
      const after = fs.readFileSync(image);
      expect(after.length).toBe(before.length);
      const differing: number[] = [];
      for (let b = 0; b * 4096 < before.length; b++) {
        if (!before.subarray(b * 4096, (b + 1) * 4096).equals(after.subarray(b * 4096, (b + 1) * 4096))) differing.push(b);
      }
      expect(differing).toEqual(m.blocks);
      expect(differing.length).toBe(16);
      expect(m.changedBytes).toBe(64 * 1024);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
