// Sub-block matching: which old bytes a run asks about, and a run cut down to the sub-blocks its edit touches.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { SUB_BLOCK } from "../protocol/constants.ts";
import type { DeltaPiece } from "./chunk-delta.ts";
import { answerHashRequest } from "./sub-block-hashes.ts";
import { hashesAsked, questionsFor, withSubBlocks } from "./sub-block-match.ts";

const text = (lines: number) =>
  new TextEncoder().encode(Array.from({ length: lines }, (_, i) => `k${i} = ${(i * 7919) % 100_003} ${"ab".repeat(i % 9)}\n`).join(""));
const OLD = text(400);
const ID = createHash("sha256").update(OLD).digest();
const source = { id: ID, baseIndex: 4, rawLength: OLD.length };

/** OLD with 10 bytes at `at` replaced by 25 others; pieces: copies of OLD up to 1 000 bytes on either side, the run between literal. */
function edit(at: number) {
  const raw = new Uint8Array([...OLD.subarray(0, at), ...new TextEncoder().encode("#".repeat(25)), ...OLD.subarray(at + 10)]);
  const pieces: DeltaPiece[] = [
    { copy: { id: ID, offset: 0, length: at - 1000 } },
    { literal: { start: at - 1000, length: 2000 + 15 } },
    { copy: { id: ID, offset: at + 1000, length: OLD.length - at - 1000 } },
  ];
  return { raw, pieces };
}

describe("sub-block matching", () => {
  test("between two copies of one chunk it asks for the old bytes they left out, halves aligned on either end", () => {
    const { pieces } = edit(5000);
    const [q] = questionsFor(pieces, () => source);
    expect(q!.piece).toBe(1);
    // the gap is OLD [4000, 6000): 2000 bytes, 15 sub-blocks from its start, 16 ending at its end
    expect(q!.ranges).toEqual([
      { baseIndex: 4, offset: 4000, count: 15, id: ID },
      { baseIndex: 4, offset: 6000 - 16 * SUB_BLOCK, count: 16, id: ID },
    ]);
    expect(hashesAsked([q!])).toBe(31);
    // a run shorter than a sub-block, or with no copy of a base chunk beside it, asks nothing
    expect(questionsFor([{ literal: { start: 0, length: 63 } }, pieces[2]!], () => source)).toEqual([]);
    expect(questionsFor(pieces, () => null)).toEqual([]);
  });

  test("the run keeps as literal only the sub-blocks its edit touches; the copies around it grow", () => {
    const { raw, pieces } = edit(5000);
    const questions = questionsFor(pieces, () => source);
    const answer = answerHashRequest(0, questions[0]!.ranges, hashesAsked(questions), () => OLD);
    const finer = withSubBlocks(raw, pieces, questions, new DataView(answer.buffer, 4));
    const literal = finer.filter((p) => "literal" in p);
    expect(literal).toHaveLength(1);
    expect((literal[0] as { literal: { length: number } }).literal.length).toBeLessThan(25 + 2 * SUB_BLOCK);
    // copies merged with their neighbours: copy, literal, copy
    expect(finer).toHaveLength(3);
    const rebuilt = finer.flatMap((p) => [
      ...("copy" in p
        ? OLD.subarray(p.copy.offset, p.copy.offset + p.copy.length)
        : raw.subarray(p.literal.start, p.literal.start + p.literal.length)),
    ]);
    expect(Buffer.from(rebuilt).equals(Buffer.from(raw))).toBe(true);
  });

  test("where equal sub-blocks stand many times (zero padding), a run copies them in one op, each continuing the last", () => {
    const old = new Uint8Array([...OLD.subarray(0, 3000), ...new Uint8Array(1024), ...OLD.subarray(3000, 6000)]);
    const id = createHash("sha256").update(old).digest();
    const raw = old.slice();
    raw[2990] = 0x23;
    const pieces: DeltaPiece[] = [
      { copy: { id, offset: 0, length: 2048 } },
      { literal: { start: 2048, length: 2048 } },
      { copy: { id, offset: 4096, length: old.length - 4096 } },
    ];
    const questions = questionsFor(pieces, () => ({ id, baseIndex: 0, rawLength: old.length }));
    const answer = answerHashRequest(0, questions[0]!.ranges, hashesAsked(questions), () => old);
    const finer = withSubBlocks(raw, pieces, questions, new DataView(answer.buffer, 4));
    // the edit's sub-block; the zeros as one copy of 15 sub-blocks (not one per sub-block) and the last one
    // (the old sub-block after them holds text); 8 bytes off the old grid; the rest
    const shown = finer.map((p) => ("copy" in p ? `C${p.copy.offset}+${p.copy.length}` : `L${p.literal.start}+${p.literal.length}`));
    expect(shown).toEqual(["C0+2944", "L2944+56", "C3008+960", "C3008+64", "L4024+8", `C4032+${raw.length - 4032}`]);
  });
});
