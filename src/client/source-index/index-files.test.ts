// An index file's records read front to back through one small buffer: reads longer than it and the end.
import { afterEach, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { noise } from "../../testing/noise.ts";
import { IndexFile, IndexFileWriter } from "./index-files.ts";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

test("a stream gives the records' bytes in order through a buffer it grows for longer reads, then -1", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "hr-index-files-"));
  roots.push(root);
  const records = [3, 8, 1, 20, 5, 40, 2].map((n, i) => noise(n, i + 1));
  const writer = new IndexFileWriter(path.join(root, "segments"), "segments");
  for (const r of records) writer.append(r);
  const archiveId = "cd".repeat(32);
  await writer.finish(archiveId, records.length);
  const file = IndexFile.open(path.join(root, "segments"), "segments", archiveId, 0)!;
  try {
    const stream = file.stream(8);
    const back = records.map((r): Uint8Array | null => {
      const at = stream.take(r.length);
      return at < 0 ? null : stream.bytes.slice(at, at + r.length);
    });
    expect(back).toEqual(records.map((r) => new Uint8Array(r)));
    expect(stream.take(1)).toBe(-1);
  } finally {
    file.close();
  }
});
