// Placing a new tar stream against the last archive's, and fast-forward: what it takes unread is what chunking every byte would cut.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { Chunker } from "./chunker.ts";
import type { ManifestEntry } from "./manifest.ts";
import { fastForward, SegmentPlacer, type OldChunks, type PlacedSegment, type Segment } from "./stream-map.ts";
import { compareTarPaths } from "./tar.ts";

const utf8 = new TextEncoder();
const TRAILER = 1024;

/** A tar-like stream: segments (path, key as text) whose bytes are a function of (path, key), then a trailer of zeros. */
type Plain = { path: string; key: string; length: number };

function bytesOf(segments: Plain[]): Uint8Array {
  const parts = segments.map((s) => {
    const out = new Uint8Array(s.length);
    let x = Number.parseInt(createHash("sha256").update(`${s.path}|${s.key}`).digest("hex").slice(0, 8), 16) || 1;
    for (let i = 0; i < out.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  });
  return Buffer.concat([...parts, new Uint8Array(TRAILER)]);
}

const OPTS = { min: 256, avg: 1024, max: 4096 };
const idOf = (bytes: Uint8Array) => new Uint8Array(createHash("sha256").update(bytes).digest());

function chunksOf(bytes: Uint8Array): ManifestEntry[] {
  const c = new Chunker(OPTS);
  const pieces = c.push(bytes);
  const last = c.finish();
  if (last) pieces.push(last);
  return pieces.map((p) => ({ id: idOf(p), rawLength: p.length }));
}

const segment = (s: Plain): Segment => ({ path: utf8.encode(s.path), key: utf8.encode(s.key.padEnd(16, "-")), length: s.length });

/** The old chunks as fastForward reads them; asserts that positions asked only grow. */
function oldChunksOf(chunks: ManifestEntry[]): OldChunks {
  const starts: number[] = [];
  chunks.reduce((at, c) => (starts.push(at), at + c.rawLength), 0);
  let lastAsked = -1;
  return {
    count: chunks.length,
    rawLength: (i) => chunks[i]!.rawLength,
    seek: (at) => {
      expect(at).toBeGreaterThanOrEqual(lastAsked);
      lastAsked = at;
      return starts.indexOf(at);
    },
  };
}

/**
 * Chunks the new stream the way the builder does: at every chunk boundary, fast-forward when it can.
 * Returns the chunks, the bytes read, and the furthest segment looked at past the position.
 */
async function chunkWithFastForward(before: Plain[], after: Plain[]) {
  const oldChunks = chunksOf(bytesOf(before));
  const cursor = before.map(segment);
  let at = 0;
  const placer = new SegmentPlacer({ next: () => cursor[at++] ?? null });
  const placed: PlacedSegment[] = [];
  let start = 0;
  for (const [seq, s] of after.entries()) {
    placed.push({ seq, start, length: s.length, placement: placer.place(segment(s).path, segment(s).key, s.length) });
    start += s.length;
  }
  placed.push({ seq: after.length, start, length: TRAILER, placement: placer.placeTrailer(TRAILER) });
  const bytes = bytesOf(after);
  const queue = { segment: async (seq: number) => placed[seq] ?? null };
  const olds = oldChunksOf(oldChunks);
  const out: ManifestEntry[] = [];
  let read = 0;
  let chunker = new Chunker(OPTS);
  let p = 0;
  let chunkStart = 0;
  const tryForward = async () => {
    const holding = placed.find((s) => s.start <= chunkStart && chunkStart < s.start + s.length);
    if (!holding) return false;
    const end = await fastForward(chunkStart, holding, queue, olds, async (i) => void out.push(oldChunks[i]!));
    if (end === null) return false;
    p = chunkStart = end;
    chunker = new Chunker(OPTS);
    return true;
  };
  await tryForward();
  outer: while (p < bytes.length) {
    const end = Math.min(bytes.length, p + 700);
    read += end - p;
    for (const piece of chunker.push(bytes.subarray(p, end))) {
      out.push({ id: idOf(piece), rawLength: piece.length });
      chunkStart += piece.length;
      if (await tryForward()) continue outer;
    }
    p = end;
  }
  const last = chunker.finish();
  if (last) out.push({ id: idOf(last), rawLength: last.length });
  return { chunks: out, read, expected: chunksOf(bytes) };
}

const name = (i: number) => `f${String(i).padStart(3, "0")}`;
const segmentList = fc.array(fc.record({ size: fc.integer({ min: 1, max: 6000 }), key: fc.integer({ min: 0, max: 3 }) }), {
  minLength: 1,
  maxLength: 30,
});

describe("stream map fast-forward", () => {
  test("chunks cut with fast-forward equal chunks cut from every byte, whatever changed", async () => {
    await fc.assert(
      fc.asyncProperty(
        segmentList,
        fc.array(fc.record({ at: fc.nat(), kind: fc.constantFrom("edit", "drop", "add", "rename", "swap") }), { maxLength: 5 }),
        async (list, edits) => {
          const before: Plain[] = list.map((s, i) => ({ path: name(i), key: `k${s.key}`, length: s.size }));
          let after = before.map((s) => ({ ...s }));
          for (const e of edits) {
            const i = e.at % after.length;
            if (e.kind === "edit") after[i] = { ...after[i]!, key: after[i]!.key + "'", length: after[i]!.length + (e.at % 7) };
            else if (e.kind === "drop" && after.length > 1) after.splice(i, 1);
            else if (e.kind === "add") after.splice(i + 1, 0, { path: `${after[i]!.path}+`, key: "new", length: 100 + (e.at % 3000) });
            // content moved to another name: the bytes exist in the old stream, elsewhere
            else if (e.kind === "rename") after[i] = { ...after[i]!, path: `${after[i]!.path}/moved` };
            // two names swap their content: same paths, other keys
            else if (e.kind === "swap" && after.length > 1) {
              const j = (i + 1) % after.length;
              [after[i], after[j]] = [
                { ...after[j]!, path: after[i]!.path },
                { ...after[i]!, path: after[j]!.path },
              ];
            }
          }
          after = after.sort((a, b) => compareTarPaths(a.path, b.path)).filter((s, k, all) => k === 0 || all[k - 1]!.path !== s.path);
          const { chunks, expected } = await chunkWithFastForward(before, after);
          expect(chunks).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("an unchanged stream is not read at all; one changed segment costs about its own bytes", async () => {
    const before: Plain[] = Array.from({ length: 200 }, (_, i) => ({ path: name(i), key: "k", length: 3000 }));
    const same = await chunkWithFastForward(before, before);
    expect(same.read).toBe(0);
    expect(same.chunks).toEqual(same.expected);
    const edited = await chunkWithFastForward(
      before,
      before.map((s, i) => (i === 100 ? { ...s, key: "edited" } : s)),
    );
    expect(edited.chunks).toEqual(edited.expected);
    expect(edited.read).toBeLessThan(3000 + 6 * 4096);
  });

  test("placement: same path is found (known only with the same key and length); a new path sits where it would have been", () => {
    const old = [
      { path: "a", key: "k", length: 10 },
      { path: "a/x", key: "k", length: 20 },
      { path: "b", key: "k", length: 30 },
    ].map(segment);
    let at = 0;
    const placer = new SegmentPlacer({ next: () => old[at++] ?? null });
    const place = (s: Plain) => placer.place(segment(s).path, segment(s).key, s.length);
    expect(place({ path: "a", key: "k", length: 10 })).toEqual({ old: 0, oldLength: 10, known: true, at: 0 });
    expect(place({ path: "a-new", key: "k", length: 5 })).toEqual({ old: -1, oldLength: 0, known: false, at: 30 });
    expect(place({ path: "b", key: "other", length: 30 })).toEqual({ old: 30, oldLength: 30, known: false, at: 30 });
    expect(placer.placeTrailer(TRAILER)).toEqual({ old: 60, oldLength: TRAILER, known: true, at: 60 });
  });
});
