import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createHash, randomBytes } from "node:crypto";
import { applyChunkDelta, BlockIndex, blocksOf, encodeChunkDelta } from "./chunk-delta.ts";
import { chunkIdHex } from "./manifest.ts";

const idOf = (raw: Uint8Array) => new Uint8Array(createHash("sha256").update(raw).digest());

/** Text-like bytes, deterministic from a seed: lines of words. */
function text(seed: number, size: number): Uint8Array {
  const words = ["backup", "server", "config", "proof", "payload", "chunk", "hash", "relay", "nas", "client", "alpha", "omega"];
  let x = seed || 1;
  let out = "";
  while (out.length < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    out += words[x % words.length] + ((x >>> 8) % 7 === 0 ? "\n" : " ");
  }
  return new TextEncoder().encode(out.slice(0, size));
}

function deltaRoundTrip(baseChunks: Uint8Array[], edited: Uint8Array) {
  const index = new BlockIndex(baseChunks.map((raw) => blocksOf(idOf(raw), raw)));
  const held = new Map(baseChunks.map((raw) => [chunkIdHex(idOf(raw)), raw]));
  const { ops, literalBytes } = encodeChunkDelta(edited, blocksOf(idOf(edited), edited), index);
  const rebuilt = applyChunkDelta(ops, edited.length, (id) => held.get(chunkIdHex(id)) ?? null);
  return { rebuilt, literalBytes, ops };
}

describe("chunk deltas", () => {
  test("any edit of a chunk rebuilds byte for byte from the old chunks and the delta", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e6 }),
        fc.integer({ min: 2000, max: 120_000 }),
        fc.array(fc.record({ at: fc.nat(), cut: fc.integer({ min: 0, max: 300 }), insert: fc.uint8Array({ maxLength: 300 }) }), {
          maxLength: 6,
        }),
        (seed, size, edits) => {
          const base = text(seed, size);
          let edited = base;
          for (const e of edits) {
            const at = e.at % edited.length;
            edited = new Uint8Array([...edited.subarray(0, at), ...e.insert, ...edited.subarray(Math.min(edited.length, at + e.cut))]);
          }
          if (edited.length === 0) return;
          const { rebuilt } = deltaRoundTrip([base], edited);
          expect(Buffer.from(rebuilt).equals(Buffer.from(edited))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  test("a two-line edit in a 64 KiB text chunk costs a few KiB of literal bytes, not the chunk", () => {
    const base = text(42, 64 * 1024);
    const edited = new Uint8Array([
      ...base.subarray(0, 30_000),
      ...new TextEncoder().encode("changed line one\nchanged line two\n"),
      ...base.subarray(30_000),
    ]);
    const { rebuilt, literalBytes } = deltaRoundTrip([base], edited);
    expect(Buffer.from(rebuilt).equals(Buffer.from(edited))).toBe(true);
    expect(literalBytes).toBeLessThan(3 * 4096);
    expect(literalBytes).toBeGreaterThanOrEqual(34);
  });

  test("bytes moved from another old chunk are copied from it", () => {
    const a = text(1, 40_000);
    const b = randomBytes(40_000);
    const edited = new Uint8Array([...a.subarray(0, 20_000), ...b.subarray(10_000, 30_000)]);
    const { rebuilt, literalBytes } = deltaRoundTrip([a, new Uint8Array(b)], edited);
    expect(Buffer.from(rebuilt).equals(Buffer.from(edited))).toBe(true);
    expect(literalBytes).toBeLessThan(4 * 4096);
  });

  test("copies from a chunk the server does not hold, or past its end, are refused; lengths must add up", () => {
    const base = text(3, 20_000);
    const edited = new Uint8Array([...base.subarray(0, 10_000), 1, 2, 3, ...base.subarray(10_000)]);
    const index = new BlockIndex([blocksOf(idOf(base), base)]);
    const { ops } = encodeChunkDelta(edited, blocksOf(idOf(edited), edited), index);
    expect(() => applyChunkDelta(ops, edited.length, () => null)).toThrow("does not hold");
    expect(() => applyChunkDelta(ops, edited.length, () => base.subarray(0, 100))).toThrow("past the end");
    expect(() => applyChunkDelta(ops, edited.length - 1, () => base)).toThrow();
    expect(() => applyChunkDelta(ops, edited.length + 1, () => base)).toThrow("the chunk has");
    expect(() => applyChunkDelta(new Uint8Array([9]), 10, () => base)).toThrow("unknown op");
  });
});

describe("BlockIndex", () => {
  test("finds every block where it first appears, like a plain map would, keys sharing their low bits included", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(
            fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 2 ** 20 - 1 }), fc.integer({ min: 256, max: 4096 })),
            { minLength: 1, maxLength: 40 },
          ),
          { minLength: 1, maxLength: 8 },
        ),
        (layout) => {
          // keys from few low words and many high words: colliding home slots are the rule here
          const chunks = layout.map((blocks, c) => ({
            id: new Uint8Array(32).fill(c + 1),
            rawLength: blocks.reduce((n, [, , length]) => n + length, 0),
            keys: Float64Array.from(blocks, ([low, high]) => high * 2 ** 32 + low),
            lengths: Uint16Array.from(blocks, ([, , length]) => length),
          }));
          const reference = new Map<number, { chunk: number; offset: number; length: number }>();
          chunks.forEach((chunk, c) => {
            let offset = 0;
            chunk.keys.forEach((key, b) => {
              if (!reference.has(key)) reference.set(key, { chunk: c, offset, length: chunk.lengths[b]! });
              offset += chunk.lengths[b]!;
            });
          });
          const index = new BlockIndex(chunks);
          for (const [key, where] of reference) {
            const found = index.lookup(key, where.length);
            expect(found?.chunk).toBe(chunks[where.chunk]);
            expect(found?.offset).toBe(where.offset);
            expect(index.lookup(key, where.length + 1)).toBeUndefined();
          }
          expect(index.lookup(2 ** 52 - 1, 1024)).toBeUndefined();
        },
      ),
      { numRuns: 200 },
    );
  });
});
