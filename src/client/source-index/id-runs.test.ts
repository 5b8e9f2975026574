// Sorting ids in bounded memory: runs on disk merged (in passes) give the records an in-memory sort gives, holding at most a run;
// the source index writer's ids file is the one it wrote when it sorted every id in memory.
import { afterEach, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { INDEX_HEADER_BYTES, ID_RECORD_BYTES, encodeIdRecord, encodeIndexHeader } from "../../archive/source-index-records.ts";
import { noise } from "../../testing/noise.ts";
import { IdRunSorter } from "./id-runs.ts";
import { SourceIndexWriter } from "./index-writer.ts";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

function tempRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "hr-id-runs-"));
  roots.push(root);
  return root;
}

/** `count` ids drawn (seeded) from `distinct` ids that share their first bytes in pairs: repeats land in many runs. */
function repeatingIds(count: number, distinct: number, seed: number): Uint8Array[] {
  const pool = Array.from({ length: distinct }, (_, i) => {
    const id = noise(32, seed * 1000 + i);
    id[0] = i >> 1;
    return id;
  });
  const picks = noise(2 * count, seed);
  return Array.from({ length: count }, (_, c) => pool[((picks[2 * c]! << 8) | picks[2 * c + 1]!) % distinct]!);
}

/** The ids file's records as the writer made them before runs: every id in memory, one sort, the first chunk of each id. */
function idRecordsInMemory(ids: Uint8Array[]): Uint8Array {
  const order = ids.map((_, c) => c).sort((a, b) => Buffer.compare(ids[a]!, ids[b]!) || a - b);
  const out: Uint8Array[] = [];
  for (const c of order) {
    if (out.length > 0 && Buffer.compare(out.at(-1)!.subarray(0, 32), ids[c]!) === 0) continue;
    const record = new Uint8Array(ID_RECORD_BYTES);
    encodeIdRecord(record, 0, ids[c]!, c);
    out.push(record);
  }
  return Buffer.concat(out);
}

/** Sorts `ids` with `limits`, watching what the sorter holds after every add; returns the records, the peak and the run files seen. */
function sortAll(dir: string, ids: Uint8Array[], limits: { runRecords: number; fanIn: number }) {
  const sorter = new IdRunSorter(dir, limits);
  let peakBytes = 0;
  let peakRuns = 0;
  ids.forEach((id, c) => {
    sorter.add(id, c);
    peakBytes = Math.max(peakBytes, sorter.heldBytes);
    peakRuns = Math.max(peakRuns, sorter.runFileCount);
  });
  const records: Uint8Array[] = [];
  const distinct = sorter.mergeInto((record) => records.push(record.slice()));
  return { records: Buffer.concat(records), distinct, peakBytes, peakRuns, left: fs.readdirSync(dir) };
}

test("runs merged in several passes give the in-memory records, the first chunk of each id, holding at most a run", () => {
  const dir = tempRoot();
  const ids = repeatingIds(3000, 200, 1);
  const expected = idRecordsInMemory(ids);
  // 3000 ids in runs of 16: 187 run files while adding (the 188th at the merge), merged 4 at a time
  const sorted = sortAll(dir, ids, { runRecords: 16, fanIn: 4 });
  expect(sorted.peakRuns).toBe(187);
  expect(sorted.peakBytes).toBeLessThanOrEqual(16 * (ID_RECORD_BYTES + 8));
  expect(Buffer.compare(sorted.records, expected)).toBe(0);
  expect(sorted.distinct).toBe(expected.length / ID_RECORD_BYTES);
  expect(sorted.left).toEqual([]);
});

test("ids that fit in one run never touch the disk", () => {
  const dir = tempRoot();
  const ids = repeatingIds(500, 50, 2);
  const sorted = sortAll(dir, ids, { runRecords: 500, fanIn: 4 });
  expect(sorted.peakRuns).toBe(0);
  expect(Buffer.compare(sorted.records, idRecordsInMemory(ids))).toBe(0);
  expect(sorted.left).toEqual([]);
  expect(sortAll(dir, [], { runRecords: 500, fanIn: 4 }).distinct).toBe(0);
});

test("limits out of range are refused", () => {
  const dir = tempRoot();
  expect(() => new IdRunSorter(dir, { runRecords: 0, fanIn: 4 })).toThrow(RangeError);
  expect(() => new IdRunSorter(dir, { runRecords: 2 ** 22, fanIn: 4 })).toThrow(RangeError);
  expect(() => new IdRunSorter(dir, { runRecords: 16, fanIn: 1 })).toThrow(RangeError);
});

test("the writer's ids file, sorted in runs, is byte for byte the in-memory one; chunkIds reads the chunks file", async () => {
  const root = tempRoot();
  const ids = repeatingIds(2000, 300, 3);
  const dir = path.join(root, "new.index");
  const writer = new SourceIndexWriter(dir, null, { runRecords: 64, fanIn: 8 });
  ids.forEach((id, c) => writer.addChunk({ id, rawLength: 100, lengths: new Uint16Array([100]), keys: new Float64Array([c]) }));
  expect(fs.readdirSync(dir).filter((f) => f.startsWith("ids.run-")).length).toBe(31);
  expect(() => writer.chunkIds().next()).toThrow();
  const archiveId = "ab".repeat(32);
  await writer.finish(archiveId);

  const records = idRecordsInMemory(ids);
  const header = encodeIndexHeader({
    kind: "ids",
    archiveId,
    recordsSha256: new Uint8Array(createHash("sha256").update(records).digest()),
    count: records.length / ID_RECORD_BYTES,
  });
  expect(header.length).toBe(INDEX_HEADER_BYTES);
  expect(Buffer.compare(fs.readFileSync(path.join(dir, "ids")), Buffer.concat([header, records]))).toBe(0);
  expect(fs.readdirSync(dir).sort()).toEqual(["blocks", "chunks", "ids", "segments"]);

  const listed: string[] = [];
  for (const id of writer.chunkIds()) listed.push(Buffer.from(id).toString("hex"));
  expect(listed).toEqual(ids.map((id) => Buffer.from(id).toString("hex")));
});

test("an abandoned writer leaves none of its run files behind", () => {
  const root = tempRoot();
  const writer = new SourceIndexWriter(path.join(root, "new.index"), null, { runRecords: 8, fanIn: 4 });
  repeatingIds(100, 30, 4).forEach((id, c) =>
    writer.addChunk({ id, rawLength: 1, lengths: new Uint16Array([1]), keys: new Float64Array([c]) }),
  );
  expect(fs.readdirSync(path.join(root, "new.index")).length).toBeGreaterThan(4);
  writer.abandon();
  expect(fs.readdirSync(root)).toEqual([]);
});
