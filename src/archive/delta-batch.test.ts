// DELTA_BATCH bodies: several chunks' deltas round trip; malformed batches are refused before they are applied.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { constants as zlibConstants, deflateRawSync, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { HashRelayError } from "../errors.ts";
import { BlockIndex, blocksOf, deltaPieces } from "./chunk-delta.ts";
import {
  applyBatchChunk,
  batchContext,
  batchIndexes,
  decodeDeltaBatch,
  encodeDeltaBatch,
  MAX_BATCH_CHUNKS,
  placeBatchCopies,
  type BatchChunk,
} from "./delta-batch.ts";

const idOf = (raw: Uint8Array) => new Uint8Array(createHash("sha256").update(raw).digest());
const text = (seed: number) =>
  new TextEncoder().encode(Array.from({ length: 600 }, (_, i) => `${seed}.k${i} = ${(i * 7919) % 100_003}\n`).join(""));
const OLD = [text(1), text(2), text(3)];
const NEW = OLD.map(
  (old, i) => new Uint8Array([...old.subarray(0, 4000), ...new TextEncoder().encode(`edit ${i}\n`), ...old.subarray(4000)]),
);
const index = new BlockIndex(OLD.map((raw) => blocksOf(idOf(raw), raw)));
const deltas = NEW.map((raw, i) => ({ index: 10 + 2 * i, raw, pieces: deltaPieces(blocksOf(idOf(raw), raw), index).pieces }));
const placeOf = (id: Uint8Array) => OLD.findIndex((old) => Buffer.from(idOf(old)).equals(Buffer.from(id)));
const rawLengthOf = (i: number) => ([10, 12, 14].includes(i) ? NEW[(i - 10) / 2]!.length : undefined);
const baseId = (p: number) => (OLD[p] ? idOf(OLD[p]!) : undefined);
const held = (id: Uint8Array) => OLD[placeOf(id)] ?? null;

function code(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return err instanceof HashRelayError ? err.code : String(err);
  }
  return "no error";
}

describe("delta batches", () => {
  test("three chunks' deltas in one body rebuild each chunk, smaller than three context deltas' literals alone", () => {
    const body = encodeDeltaBatch(deltas, placeOf);
    expect(batchIndexes(body).indexes).toEqual([10, 12, 14]);
    const { chunks, literals } = decodeDeltaBatch(body, rawLengthOf, baseId);
    chunks.forEach((chunk, i) => expect(Buffer.from(applyBatchChunk(chunk, literals, held)).equals(Buffer.from(NEW[i]!))).toBe(true));
  });

  test("malformed batches are BAD_FRAME, a literal stream longer than its ops say TOO_LARGE", () => {
    const body = encodeDeltaBatch(deltas, placeOf);
    const withN = (n: number) => Uint8Array.from([...body.subarray(0, 4), n, ...body.subarray(5)]);
    expect(code(() => decodeDeltaBatch(withN(1), rawLengthOf, baseId))).toBe("BAD_FRAME");
    expect(code(() => decodeDeltaBatch(withN(MAX_BATCH_CHUNKS + 1), rawLengthOf, baseId))).toBe("BAD_FRAME");
    expect(code(() => decodeDeltaBatch(body, (i) => (i === 12 ? undefined : rawLengthOf(i)), baseId))).toBe("BAD_FRAME");
    expect(code(() => decodeDeltaBatch(body, rawLengthOf, () => undefined))).toBe("BAD_FRAME");
    expect(code(() => decodeDeltaBatch(body.subarray(0, 8), rawLengthOf, baseId))).toBe("BAD_FRAME");
    // the same ops, a literal stream of more bytes than they take
    const { at } = batchIndexes(body);
    const opsEnd = at + 4 + new DataView(body.buffer).getUint32(at);
    const longer = Uint8Array.from([...body.subarray(0, opsEnd), ...deflateRawSync(Buffer.alloc(100_000, 0x61))]);
    expect(code(() => decodeDeltaBatch(longer, rawLengthOf, baseId))).toBe("TOO_LARGE");
  });
});

describe("delta batches, version 4: the literal stream a zstd frame with the bytes before each run as dictionary", () => {
  // text whose edits reuse the words around them, as a line edited in a file does
  const prose = (seed: number) =>
    new TextEncoder().encode(
      Array.from({ length: 400 }, (_, i) => `${seed} alpha_${i % 37} beta_${(i * 13) % 41} gamma_${(i * 7) % 29} ${i}\n`).join(""),
    );
  const old = [prose(1), prose(2)];
  const edits = old.map((raw, i) => {
    const line = `${i} alpha_${(i + 3) % 37} beta_${(i + 5) % 41} gamma_${(i + 9) % 29} edited\n`;
    return new Uint8Array([...raw.subarray(0, 6000), ...new TextEncoder().encode(line), ...raw.subarray(6000)]);
  });
  const oldIndex = new BlockIndex(old.map((raw) => blocksOf(idOf(raw), raw)));
  const batch = edits.map((raw, i) => ({ index: 3 + i, raw, pieces: deltaPieces(blocksOf(idOf(raw), raw), oldIndex).pieces }));
  const placeIn = (id: Uint8Array) => old.findIndex((o) => Buffer.from(idOf(o)).equals(Buffer.from(id)));
  const rawLength = (i: number) => (i === 3 || i === 4 ? edits[i - 3]!.length : undefined);
  const idAt = (p: number) => (old[p] ? idOf(old[p]!) : undefined);
  const source = (id: Uint8Array) => old[placeIn(id)] ?? null;
  const contextOf = (chunks: readonly BatchChunk[]) =>
    batchContext(chunks.map((c) => ({ raw: placeBatchCopies(c, source), literals: c.literals })));

  test("round trips when both sides use it, is smaller than without it, and does not inflate without it", () => {
    const body = encodeDeltaBatch(batch, placeIn, true);
    const { chunks, literals } = decodeDeltaBatch(body, rawLength, idAt, contextOf);
    chunks.forEach((chunk, i) => expect(Buffer.from(applyBatchChunk(chunk, literals, source)).equals(Buffer.from(edits[i]!))).toBe(true));
    expect(body.length).toBeLessThan(encodeDeltaBatch(batch, placeIn).length);
    // a version-3 reader (raw deflate, no dictionary) cannot read it
    const plain = code(() => {
      const read = decodeDeltaBatch(body, rawLength, idAt);
      return read.chunks.map((chunk, i) => {
        if (!Buffer.from(applyBatchChunk(chunk, read.literals, source)).equals(Buffer.from(edits[i]!))) throw new Error("other bytes");
        return chunk;
      });
    });
    expect(plain).not.toBe("no error");
  });

  test("a literal stream that decodes past its ops' total is TOO_LARGE; a corrupt one, or one whose window is over 16 MiB, BAD_FRAME", () => {
    const body = encodeDeltaBatch(batch, placeIn, true);
    const { at } = batchIndexes(body);
    const opsEnd = at + 4 + new DataView(body.buffer, body.byteOffset).getUint32(at);
    const withStream = (stream: Uint8Array) => Uint8Array.from([...body.subarray(0, opsEnd), ...stream]);
    const read = (b: Uint8Array) => code(() => decodeDeltaBatch(b, rawLength, idAt, contextOf));
    expect(read(withStream(zstdCompressSync(Buffer.alloc(100_000, 0x61))))).toBe("TOO_LARGE");
    expect(read(withStream(body.subarray(opsEnd, body.length - 3)))).toBe("BAD_FRAME");
    // a frame of exactly the literal bytes' length whose header asks for a 2^27-byte window
    const total = decodeDeltaBatch(body, rawLength, idAt, contextOf).literals.length;
    const wide = zstdCompressSync(Buffer.alloc(total, 0x61), { params: { [zlibConstants.ZSTD_c_contentSizeFlag]: 0 } } as object);
    expect(wide[4]).toBe(0x00); // no content size, no single segment: byte 5 is the window descriptor
    wide[5] = 17 << 3;
    expect(zstdDecompressSync(wide, { params: { [zlibConstants.ZSTD_d_windowLogMax]: 27 } } as object)).toHaveLength(total);
    expect(read(withStream(wide))).toBe("BAD_FRAME");
  });

  test("the dictionary holds only copied bytes: at most 1 KiB before each run, back to the previous run's end, the last 1 MiB", () => {
    const raw = Uint8Array.from({ length: 4000 }, (_, i) => i % 251);
    const got = batchContext([
      {
        raw,
        literals: [
          { at: 100, length: 10 },
          { at: 150, length: 5 },
          { at: 3000, length: 1 },
        ],
      },
    ]);
    const prefix = [...new TextEncoder().encode("HRBC")];
    expect([...got]).toEqual([...prefix, ...raw.subarray(0, 100), ...raw.subarray(110, 150), ...raw.subarray(3000 - 1024, 3000)]);
    const many = Array.from({ length: 1100 }, () => ({ raw, literals: [{ at: 3000, length: 1 }] }));
    expect(batchContext(many)).toHaveLength(4 + (1 << 20));
  });
});
