import { describe, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { Chunker, type ChunkerOptions } from "./chunker.ts";
import { CHUNK_AVG, CHUNK_MAX, CHUNK_MIN } from "../protocol/constants.ts";
import { noise } from "../testing/noise.ts";

/** Small bounds so properties run over many boundaries quickly. */
const SMALL: ChunkerOptions = { min: 256, avg: 1024, max: 4096 };

function chunkAll(data: Uint8Array, opts: ChunkerOptions, cuts: number[] = []): Uint8Array[] {
  const chunker = new Chunker(opts);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < data.length)].sort((a, b) => a - b)) {
    out.push(...chunker.push(data.subarray(at, cut)));
    at = cut;
  }
  out.push(...chunker.push(data.subarray(at)));
  const last = chunker.finish();
  if (last) out.push(last);
  return out;
}

/** A stream length, a noise seed and where to split it into pushes. */
const splitStream = [fc.integer({ min: 0, max: 40_000 }), fc.integer(), fc.array(fc.nat({ max: 40_000 }), { maxLength: 30 })] as const;

const ids = (chunks: Uint8Array[]) => chunks.map((c) => createHash("sha256").update(c).digest("hex"));

describe("Chunker", () => {
  test("chunks concatenate back to the input, whatever the push split", () => {
    fc.assert(
      fc.property(...splitStream, (length, seed, cuts) => {
        const data = noise(length, seed);
        const whole = chunkAll(data, SMALL);
        const split = chunkAll(data, SMALL, cuts);
        expect(ids(split)).toEqual(ids(whole));
        expect(Buffer.concat(split).equals(Buffer.from(data))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  test("pushViews gives push's chunks without copies, read before the caller reuses its buffer", () => {
    fc.assert(
      fc.property(...splitStream, (length, seed, cuts) => {
        const data = noise(length, seed);
        const chunker = new Chunker(SMALL);
        const buffer = new Uint8Array(40_000); // one read buffer, overwritten after every push, as the archive builder does
        const seen: Uint8Array[] = [];
        let at = 0;
        for (const end of [...cuts.filter((c) => c > 0 && c < length).sort((a, b) => a - b), length]) {
          buffer.set(data.subarray(at, end));
          for (const view of chunker.pushViews(buffer.subarray(0, end - at))) seen.push(view.slice());
          buffer.fill(0xee);
          at = end;
        }
        const last = chunker.finish();
        if (last) seen.push(last);
        expect(ids(seen)).toEqual(ids(chunkAll(data, SMALL)));
      }),
      { numRuns: 200 },
    );
  });

  test("pushing one byte at a time gives the same chunks as one push", () => {
    const data = noise(30_000, 7);
    const chunker = new Chunker(SMALL);
    const out: Uint8Array[] = [];
    for (let i = 0; i < data.length; i++) out.push(...chunker.push(data.subarray(i, i + 1)));
    const last = chunker.finish();
    if (last) out.push(last);
    expect(ids(out)).toEqual(ids(chunkAll(data, SMALL)));
  });

  test("every chunk but the last is within [min, max]; the last is at most max", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60_000 }), fc.integer(), fc.boolean(), (length, seed, zeros) => {
        // All-zero input never matches the mask: it exercises the forced cut at max.
        const data = zeros ? new Uint8Array(length) : noise(length, seed);
        const chunks = chunkAll(data, SMALL);
        chunks.slice(0, -1).forEach((c) => {
          expect(c.length).toBeGreaterThanOrEqual(256);
          expect(c.length).toBeLessThanOrEqual(4096);
        });
        expect(chunks.at(-1)!.length).toBeLessThanOrEqual(4096);
        expect(chunks.at(-1)!.length).toBeGreaterThan(0);
      }),
      { numRuns: 100 },
    );
  });

  test("an insertion in the middle of a large buffer changes only the chunks around it", () => {
    const changedCounts: number[] = [];
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: 1, max: 2000 }),
        fc.double({ min: 0.1, max: 0.9, noNaN: true }),
        (seed, insertLength, where) => {
          const data = noise(400_000, seed);
          const at = Math.floor(data.length * where);
          const edited = Buffer.concat([data.subarray(0, at), noise(insertLength, seed ^ 0x5555), data.subarray(at)]);
          const before = new Set(ids(chunkAll(data, SMALL)));
          const changed = ids(chunkAll(edited, SMALL)).filter((id) => !before.has(id)).length;
          expect(before.size).toBeGreaterThan(250);
          expect(changed).toBeGreaterThanOrEqual(1);
          // Resynchronisation can take a few chunks (a shifted cut can fall in the next chunk's
          // unhashed first `min` bytes); it must stay local, never ripple through the buffer.
          expect(changed).toBeLessThanOrEqual(12);
          changedCounts.push(changed);
        },
      ),
      { numRuns: 40 },
    );
    const mean = changedCounts.reduce((a, b) => a + b, 0) / changedCounts.length;
    expect(mean).toBeLessThanOrEqual(4);
  });

  test("default bounds come from the protocol and the average is near CHUNK_AVG", () => {
    const chunker = new Chunker();
    expect([chunker.min, chunker.avg, chunker.max]).toEqual([CHUNK_MIN, CHUNK_AVG, CHUNK_MAX]);
    const chunks = chunkAll(noise(16 * 1024 * 1024, 99), {});
    const mean = (16 * 1024 * 1024) / chunks.length;
    expect(mean).toBeGreaterThan(CHUNK_AVG * 0.75);
    expect(mean).toBeLessThan(CHUNK_AVG * 1.5);
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(CHUNK_MIN);
      expect(c.length).toBeLessThanOrEqual(CHUNK_MAX);
    }
  });

  test("returned chunks are copies: reusing the pushed buffer does not change them", () => {
    const buffer = noise(20_000, 3);
    const expected = ids(chunkAll(buffer, SMALL));
    const chunker = new Chunker(SMALL);
    const got = chunker.push(buffer);
    buffer.fill(0);
    const last = chunker.finish();
    if (last) got.push(last);
    expect(ids(got)).toEqual(expected);
  });

  test("finish on an empty stream gives null, and the chunker can be reused after finish", () => {
    const chunker = new Chunker(SMALL);
    expect(chunker.finish()).toBeNull();
    const data = noise(10_000, 11);
    const first = [...chunker.push(data), chunker.finish()!];
    const second = [...chunker.push(data), chunker.finish()!];
    expect(ids(second)).toEqual(ids(first));
  });

  test("reset drops what is pending: the chunker then cuts as a new one would, at any point of a stream", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.integer(), (stop, seed) => {
        const data = noise(30_000, seed);
        const chunker = new Chunker(SMALL);
        chunker.push(data.subarray(0, stop)); // leaves bytes pending and the gear hash mid-chunk
        chunker.reset();
        const rest = data.subarray(stop);
        const after = [...chunker.push(rest), chunker.finish()].filter((c) => c !== null);
        expect(ids(after)).toEqual(ids(chunkAll(rest, SMALL)));
      }),
      { numRuns: 50 },
    );
  });

  test("matches a naive one-shot reference of the documented rule (gear table from SHA-256 counter mode)", () => {
    // If this fails, chunk boundaries changed: every chunk id changes and deduplication
    // against archives already stored is lost.
    const gear: number[] = [];
    for (let block = 0; block < 32; block++) {
      const counter = Buffer.alloc(4);
      counter.writeUInt32BE(block);
      const digest = createHash("sha256").update("HashRelay gear table v1").update(counter).digest();
      for (let k = 0; k < 8; k++) gear.push(digest.readUInt32BE(k * 4));
    }
    const reference = (data: Uint8Array, min: number, avg: number, max: number): number[] => {
      const bits = Math.log2(avg);
      const maskOf = (n: number) => 2 ** 32 - 2 ** (32 - n); // top n bits of a u32
      const lengths: number[] = [];
      let start = 0;
      while (start < data.length) {
        const end = Math.min(data.length - start, max);
        let length = end;
        let h = 0;
        for (let i = min; i < end; i++) {
          h = (h * 2 + gear[data[start + i]!]!) % 2 ** 32;
          const mask = maskOf(i < avg ? bits + 1 : bits - 1);
          if ((h & mask) === 0) {
            length = i + 1;
            break;
          }
        }
        lengths.push(length);
        start += length;
      }
      return lengths;
    };
    for (const seed of [1, 2, 3]) {
      const data = noise(50_000, seed);
      expect(chunkAll(data, SMALL).map((c) => c.length)).toEqual(reference(data, 256, 1024, 4096));
      // cutLengths (the worker's copy-free cut of one whole chunk into blocks) follows the same rule
      expect(new Chunker(SMALL).cutLengths(data)).toEqual(reference(data, 256, 1024, 4096));
      expect(new Chunker(SMALL).cutLengths(data.subarray(0, 200))).toEqual([200]);
      expect(new Chunker(SMALL).cutLengths(new Uint8Array(0))).toEqual([]);
    }
    const big = noise(3 * 1024 * 1024, 4);
    expect(chunkAll(big, {}).map((c) => c.length)).toEqual(reference(big, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX));
  });

  test("refuses inconsistent bounds", () => {
    expect(() => new Chunker({ min: 4096, avg: 1024, max: 8192 })).toThrow(/invalid chunker bounds/);
    expect(() => new Chunker({ min: 256, avg: 1000, max: 8192 })).toThrow(/invalid chunker bounds/);
    expect(() => new Chunker({ min: 256, avg: 1024, max: 1024 })).toThrow(/invalid chunker bounds/);
  });
});
