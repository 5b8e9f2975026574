// The source index on disk: what a writer records, a reader gives back by range; a damaged or foreign index is not used.
import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { blocksOf, type ChunkBlocks } from "../../archive/chunk-delta.ts";
import { archiveIdOf } from "../../archive/manifest.ts";
import type { Segment } from "../../archive/stream-map.ts";
import { noise } from "../../testing/noise.ts";
import { SourceIndexWriter } from "./index-writer.ts";
import { CANDIDATE_MARGIN, SourceIndex } from "./source-index.ts";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

function tempRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "hr-source-index-"));
  roots.push(root);
  return root;
}

const bytes = (seed: number, n: number) => noise(n, seed);
const chunkOf = (raw: Uint8Array): ChunkBlocks => blocksOf(new Uint8Array(createHash("sha256").update(raw).digest()), raw);
const segment = (p: string, length: number): Segment => ({
  path: new TextEncoder().encode(p),
  key: new Uint8Array(16).fill(p.length),
  length,
});

/** Writes an index of `raws` (one segment per chunk, named s000, s001...) into a new folder of `root`; returns it with its archive id. */
async function writeIndex(root: string, raws: Uint8Array[], previous: SourceIndex | null = null, reuse: Map<number, number> = new Map()) {
  const dir = path.join(root, `idx-${fs.readdirSync(root).length}`);
  const writer = new SourceIndexWriter(dir, previous);
  const chunks = raws.map(chunkOf);
  chunks.forEach((c, i) => {
    writer.addSegment(segment(`s${String(i).padStart(3, "0")}`, c.rawLength));
    const from = reuse.get(i);
    writer.addChunk(from === undefined ? c : { id: c.id, rawLength: c.rawLength, from });
  });
  const archiveId = archiveIdOf(chunks);
  await writer.finish(archiveId);
  return { dir, archiveId, chunks };
}

describe("source index", () => {
  test("gives back chunks, blocks, first positions of ids, segments and candidates; reused chunks copy their blocks", async () => {
    const root = tempRoot();
    const a = bytes(1, 70_000);
    const b = bytes(2, 30_000);
    const c = bytes(3, 90_000);
    const first = await writeIndex(root, [a, b, a, c]);
    const old = SourceIndex.open(first.dir, first.archiveId)!;
    expect(old).not.toBeNull();
    expect(old.chunkCount).toBe(4);
    expect(old.chunk(3)).toMatchObject({ rawLength: 90_000, start: 170_000 });
    expect(old.positionOf(first.chunks[0]!.id)).toBe(0); // a appears at 0 and 2: the first
    expect(old.positionOf(first.chunks[3]!.id)).toBe(3);
    expect(old.positionOf(new Uint8Array(32))).toBe(-1);
    expect(old.blocksOf(1)).toEqual(first.chunks[1]!);
    expect(old.base.indexOf(first.chunks[1]!.id)).toBe(1);
    expect(old.base.matchesAt(2, { id: first.chunks[0]!.id, rawLength: 70_000 })).toBe(true);
    expect(old.base.matchesAt(2, { id: first.chunks[0]!.id, rawLength: 70_001 })).toBe(false);
    expect(old.base.matchesAt(4, first.chunks[0]!)).toBe(false);
    const stream = old.previousStream();
    const names: string[] = [];
    for (let s = stream.segments.next(); s; s = stream.segments.next()) names.push(`${new TextDecoder().decode(s.path)}:${s.length}`);
    expect(names).toEqual(["s000:70000", "s001:30000", "s002:70000", "s003:90000"]);
    expect([stream.chunks.seek(0), stream.chunks.seek(70_000), stream.chunks.seek(100_001), stream.chunks.seek(170_000)]).toEqual([
      0, 1, -1, 3,
    ]);

    // the next archive: b and c taken from the last one (their blocks copied), a new chunk between
    const d = bytes(4, 20_000);
    const second = await writeIndex(
      root,
      [b, d, c],
      old,
      new Map([
        [0, 1],
        [2, 3],
      ]),
    );
    old.close();
    const next = SourceIndex.open(second.dir, second.archiveId)!;
    expect([0, 1, 2].map((i) => next.blocksOf(i))).toEqual(second.chunks);
    expect(next.positionOf(second.chunks[2]!.id)).toBe(2);
    next.close();
  });

  test("the candidates of a changed stretch are the chunks within CANDIDATE_MARGIN of it in the old stream", async () => {
    const root = tempRoot();
    const size = 200_000;
    const { dir, archiveId, chunks } = await writeIndex(
      root,
      [1, 2, 3, 4, 5, 6].map((seed) => bytes(seed, size)),
    );
    const index = SourceIndex.open(dir, archiveId)!;
    const expected = (lo: number, hi: number) =>
      chunks.flatMap((_, i) => (i * size + size > lo - CANDIDATE_MARGIN && i * size <= hi + CANDIDATE_MARGIN ? [i] : []));
    for (const [lo, hi] of [
      [500_000, 510_000],
      [0, 0],
      [1_199_999, 1_200_000],
      [390_000, 800_000],
    ] as const) {
      expect(index.candidates(lo, hi).map((c) => Buffer.from(c.id).toString("hex"))).toEqual(
        expected(lo, hi).map((i) => Buffer.from(chunks[i]!.id).toString("hex")),
      );
    }
    index.close();
  });

  test("an index of another archive, damaged, truncated or incomplete is not used", async () => {
    const root = tempRoot();
    const { dir, archiveId } = await writeIndex(root, [bytes(1, 50_000), bytes(2, 60_000)]);
    const opens = () => {
      const index = SourceIndex.open(dir, archiveId);
      index?.close();
      return index !== null;
    };
    expect(opens()).toBe(true);
    expect(SourceIndex.open(dir, "0".repeat(64))).toBeNull();
    for (const file of ["chunks", "ids", "segments"]) {
      const original = fs.readFileSync(path.join(dir, file));
      const damaged = Buffer.from(original);
      damaged[damaged.length - 1]! ^= 0x01;
      fs.writeFileSync(path.join(dir, file), damaged);
      expect({ file, opens: opens() }).toEqual({ file, opens: false });
      fs.writeFileSync(path.join(dir, file), original);
    }
    const blocks = fs.readFileSync(path.join(dir, "blocks"));
    fs.writeFileSync(path.join(dir, "blocks"), blocks.subarray(0, blocks.length - 10));
    expect(opens()).toBe(false);
    fs.writeFileSync(path.join(dir, "blocks"), blocks);
    expect(opens()).toBe(true);
    fs.rmSync(path.join(dir, "ids"));
    expect(opens()).toBe(false);
  });

  test("an abandoned index leaves nothing behind", () => {
    const root = tempRoot();
    const writer = new SourceIndexWriter(path.join(root, "new.index"), null);
    writer.addSegment(segment("a", 512));
    writer.abandon();
    expect(fs.readdirSync(root)).toEqual([]);
  });
});
