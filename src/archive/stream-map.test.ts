import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { Chunker } from "./chunker.ts";
import type { ManifestEntry } from "./manifest.ts";
import { StreamMap, type Segment } from "./stream-map.ts";

/** A stream made of segments whose bytes are a function of (path, key). */
function bytesOf(segments: Segment[]): Uint8Array {
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
  return Buffer.concat(parts);
}

const OPTS = { min: 256, avg: 1024, max: 4096 };
function chunksOf(bytes: Uint8Array): ManifestEntry[] {
  const c = new Chunker(OPTS);
  const pieces = c.push(bytes);
  const last = c.finish();
  if (last) pieces.push(last);
  return pieces.map((p) => ({ id: new Uint8Array(createHash("sha256").update(p).digest()), rawLength: p.length }));
}

/** Chunks the new stream the way the builder does: fast-forward whenever the map allows it. */
function chunkWithFastForward(map: StreamMap, bytes: Uint8Array): { chunks: ManifestEntry[]; read: number } {
  const out: ManifestEntry[] = [];
  let p = 0;
  let read = 0;
  let chunker = new Chunker(OPTS);
  let chunkStart = 0;
  outer: while (p < bytes.length) {
    const ff = chunkStart === p ? map.fastForward(p) : null;
    if (ff) {
      out.push(...ff.chunks);
      p = chunkStart = ff.endNew;
      chunker = new Chunker(OPTS);
      continue;
    }
    const end = Math.min(bytes.length, p + 700);
    read += end - p;
    for (const piece of chunker.push(bytes.subarray(p, end))) {
      out.push({ id: new Uint8Array(createHash("sha256").update(piece).digest()), rawLength: piece.length });
      chunkStart += piece.length;
      if (map.fastForward(chunkStart)) {
        p = chunkStart;
        chunker = new Chunker(OPTS);
        continue outer;
      }
    }
    p = end;
  }
  const last = chunker.finish();
  if (last) out.push({ id: new Uint8Array(createHash("sha256").update(last).digest()), rawLength: last.length });
  return { chunks: out, read };
}

const segmentList = fc.array(fc.record({ size: fc.integer({ min: 1, max: 6000 }), key: fc.integer({ min: 0, max: 3 }) }), {
  minLength: 1,
  maxLength: 30,
});

describe("stream map fast-forward", () => {
  test("chunks cut with fast-forward equal chunks cut from every byte, whatever changed", () => {
    fc.assert(
      fc.property(
        segmentList,
        fc.array(fc.record({ at: fc.nat(), kind: fc.constantFrom("edit", "drop", "add", "move") }), { maxLength: 5 }),
        (list, edits) => {
          const before: Segment[] = list.map((s, i) => ({ path: `f${String(i).padStart(3, "0")}`, key: `k${s.key}`, length: s.size }));
          const after = before.map((s) => ({ ...s }));
          for (const e of edits) {
            const i = e.at % after.length;
            if (e.kind === "edit") after[i] = { ...after[i]!, key: after[i]!.key + "'", length: after[i]!.length + (e.at % 7) };
            else if (e.kind === "drop" && after.length > 1) after.splice(i, 1);
            else if (e.kind === "add") after.splice(i, 0, { path: `${after[i]!.path}+`, key: "new", length: 100 + (e.at % 3000) });
            else if (e.kind === "move" && after.length > 1) after.push(...after.splice(i, 1));
          }
          const map = new StreamMap(before, chunksOf(bytesOf(before)), after);
          const afterBytes = bytesOf(after);
          expect(map.length).toBe(afterBytes.length);
          const { chunks } = chunkWithFastForward(map, afterBytes);
          expect(chunks).toEqual(chunksOf(afterBytes));
        },
      ),
      { numRuns: 200 },
    );
  });

  test("an unchanged stream is not read at all; one changed segment costs about its own bytes", () => {
    const before: Segment[] = Array.from({ length: 200 }, (_, i) => ({ path: `f${String(i).padStart(3, "0")}`, key: "k", length: 3000 }));
    const oldChunks = chunksOf(bytesOf(before));
    const same = chunkWithFastForward(new StreamMap(before, oldChunks, before), bytesOf(before));
    expect(same.read).toBe(0);
    expect(same.chunks).toEqual(oldChunks);
    const after = before.map((s, i) => (i === 100 ? { ...s, key: "edited" } : s));
    const edited = chunkWithFastForward(new StreamMap(before, oldChunks, after), bytesOf(after));
    expect(edited.chunks).toEqual(chunksOf(bytesOf(after)));
    expect(edited.read).toBeLessThan(3000 + 6 * 4096);
  });

  test("segments that moved are not reused out of order", () => {
    const before: Segment[] = [
      { path: "a", key: "k", length: 5000 },
      { path: "b", key: "k", length: 5000 },
    ];
    const after = [before[1]!, before[0]!];
    const map = new StreamMap(before, chunksOf(bytesOf(before)), after);
    const { chunks } = chunkWithFastForward(map, bytesOf(after));
    expect(chunks).toEqual(chunksOf(bytesOf(after)));
  });
});
