// DELTA_BATCH bodies: several chunks' deltas round trip; malformed batches are refused before they are applied.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import { HashRelayError } from "../errors.ts";
import { BlockIndex, blocksOf, deltaPieces } from "./chunk-delta.ts";
import { applyBatchChunk, batchIndexes, decodeDeltaBatch, encodeDeltaBatch, MAX_BATCH_CHUNKS } from "./delta-batch.ts";

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
