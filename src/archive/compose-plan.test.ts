import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  type ComposePiece,
  type ComposePlan,
  type PartLimits,
  type PartSource,
  type PlacedMember,
  S3_PART_LIMITS,
  composePieces,
  planCompose,
} from "./compose-plan.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const old = (start: number, end: number): ComposePiece => ({ kind: "old", start, end });
const fresh = (length: number): ComposePiece => ({ kind: "new", length });

/** The byte sources the plan's parts stand for, in order, adjacent ones joined. */
function planSources(plan: ComposePlan): PartSource[] {
  return joined(
    plan.parts.flatMap((part) => (part.kind === "copy" ? [{ kind: "old" as const, start: part.start, end: part.end }] : part.sources)),
  );
}

/** The byte sources the pieces stand for, in order, adjacent ones joined. */
function pieceSources(pieces: readonly ComposePiece[]): PartSource[] {
  return joined(pieces.map((p, piece): PartSource => (p.kind === "old" ? { ...p } : { kind: "new", piece, start: 0, end: p.length })));
}

function joined(sources: readonly PartSource[]): PartSource[] {
  const out: PartSource[] = [];
  for (const s of sources) {
    if (s.end === s.start) continue;
    const last = out.at(-1);
    const continues =
      last && last.kind === s.kind && last.end === s.start && (s.kind === "old" || (last.kind === "new" && last.piece === s.piece));
    if (continues) last.end = s.end;
    else out.push({ ...s });
  }
  return out;
}

/** Every rule the plan promises, for any input. */
function expectWithinRules(pieces: readonly ComposePiece[], plan: ComposePlan, limits: PartLimits): void {
  expect(planSources(plan)).toEqual(pieceSources(pieces));
  const lengths = plan.parts.map((part) => (part.kind === "copy" ? part.end - part.start : part.length));
  expect(lengths.reduce((a, b) => a + b, 0)).toBe(plan.size);
  expect(plan.parts.length).toBeLessThanOrEqual(limits.maxParts);
  for (const [i, length] of lengths.entries()) {
    expect(length).toBeLessThanOrEqual(limits.maxPart);
    expect(length).toBeGreaterThanOrEqual(i === lengths.length - 1 ? 1 : Math.max(limits.minPart, plan.partFloor));
  }
  const newBytes = pieces.reduce((sum, p) => sum + (p.kind === "new" ? p.length : 0), 0);
  const oldRuns = pieceSources(pieces).filter((s) => s.kind === "old").length;
  expect(plan.bytesUploaded).toBe(newBytes + plan.bytesUploadedFromOld);
  expect(plan.bytesCopied + plan.bytesUploaded).toBe(plan.size);
  // the bound: each old run adds fewer than two floors of old bytes to the upload
  expect(plan.bytesUploadedFromOld).toBeLessThanOrEqual(oldRuns * (2 * plan.partFloor - 2));
}

describe("planCompose", () => {
  test("an empty object has no parts", () => {
    const plan = planCompose([]);
    expect(plan).toMatchObject({ parts: [], size: 0, bytesCopied: 0, bytesUploaded: 0 });
    expect(planCompose([fresh(0), old(7, 7)]).parts).toEqual([]);
  });

  test("all new: parts of exactly 5 MiB, the last shorter", () => {
    const plan = planCompose([fresh(12 * MiB)]);
    expect(plan.parts.map((p) => p.kind === "upload" && p.length)).toEqual([5 * MiB, 5 * MiB, 2 * MiB]);
    expect(plan).toMatchObject({ bytesCopied: 0, bytesUploaded: 12 * MiB, bytesUploadedFromOld: 0 });
  });

  test("all old: one copy, even under 5 MiB (the last part may be short)", () => {
    expect(planCompose([old(0, 100 * MiB)]).parts).toEqual([{ kind: "copy", start: 0, end: 100 * MiB }]);
    expect(planCompose([old(0, MiB)]).parts).toEqual([{ kind: "copy", start: 0, end: MiB }]);
    expect(planCompose([old(0, 3 * MiB), old(3 * MiB, 9 * MiB)]).parts).toEqual([{ kind: "copy", start: 0, end: 9 * MiB }]);
  });

  test("exactly 5 MiB: an old run of 5 MiB is copied, 5 MiB of new bytes make one part", () => {
    const plan = planCompose([old(0, 5 * MiB), fresh(5 * MiB), old(40 * MiB, 45 * MiB), fresh(1)]);
    expect(plan.parts.map((p) => [p.kind, p.kind === "copy" ? p.end - p.start : p.length])).toEqual([
      ["copy", 5 * MiB],
      ["upload", 5 * MiB],
      ["copy", 5 * MiB],
      ["upload", 1],
    ]);
    expectWithinRules([old(0, 5 * MiB), fresh(5 * MiB), old(40 * MiB, 45 * MiB), fresh(1)], plan, S3_PART_LIMITS);
  });

  test("an isolated change costs the change plus a top-up: at most n + 2 × 5 MiB uploaded", () => {
    const pieces = [old(0, 100 * MiB), fresh(1000), old(100 * MiB, 200 * MiB)];
    const plan = planCompose(pieces);
    expect(plan.parts).toEqual([
      { kind: "copy", start: 0, end: 100 * MiB },
      {
        kind: "upload",
        length: 5 * MiB,
        sources: [
          { kind: "new", piece: 1, start: 0, end: 1000 },
          { kind: "old", start: 100 * MiB, end: 105 * MiB - 1000 },
        ],
      },
      { kind: "copy", start: 105 * MiB - 1000, end: 200 * MiB },
    ]);
    expect(plan.bytesUploaded).toBe(5 * MiB);
    expect(plan.bytesUploaded).toBeLessThanOrEqual(1000 + 2 * 5 * MiB);
  });

  test("a short run after a top-up is uploaded whole, never copied as a small part", () => {
    const pieces = [fresh(MiB), old(0, 8 * MiB), fresh(MiB), old(50 * MiB, 60 * MiB)];
    const plan = planCompose(pieces);
    expect(plan.parts.map((p) => p.kind)).toEqual(["upload", "upload", "copy"]);
    expect(plan.bytesUploadedFromOld).toBe(8 * MiB); // 4 MiB top-up, then the 4 MiB left of the run
    expectWithinRules(pieces, plan, S3_PART_LIMITS);
  });

  test("many tiny runs are uploaded in parts of exactly the floor", () => {
    const pieces = Array.from({ length: 2000 }, (_, i) => (i % 2 ? fresh(10) : old(i * MiB, i * MiB + 100 * 1024)));
    const plan = planCompose(pieces);
    expect(plan.bytesCopied).toBe(0);
    expect(plan.parts.slice(0, -1).every((p) => p.kind === "upload" && p.length === 5 * MiB)).toBe(true);
    expectWithinRules(pieces, plan, S3_PART_LIMITS);
  });

  test("a run longer than 5 GiB is copied in the fewest parts of near-equal size", () => {
    const plan = planCompose([old(0, 12 * GiB)]);
    expect(plan.parts).toEqual([
      { kind: "copy", start: 0, end: 4 * GiB },
      { kind: "copy", start: 4 * GiB, end: 8 * GiB },
      { kind: "copy", start: 8 * GiB, end: 12 * GiB },
    ]);
    const odd = [fresh(1), old(0, 10 * GiB + 1)];
    expectWithinRules(odd, planCompose(odd), S3_PART_LIMITS);
  });

  test("an object that would need over 10,000 parts of 5 MiB gets bigger parts", () => {
    const allNew = [fresh(60 * GiB)];
    const plan = planCompose(allNew);
    expect(plan.partFloor).toBe(Math.ceil((60 * GiB) / 10_000)); // 6.1 MiB
    expect(plan.parts.length).toBe(10_000);
    expectWithinRules(allNew, plan, S3_PART_LIMITS);
    const tinyRuns = Array.from({ length: 40_000 }, (_, i) => (i % 2 ? fresh(3 * MiB) : old(i * 4 * MiB, i * 4 * MiB + 2 * MiB)));
    expectWithinRules(tinyRuns, planCompose(tinyRuns), S3_PART_LIMITS);
  });

  test("the 5 TiB object limit and malformed pieces are refused", () => {
    expect(() => planCompose([old(0, 5 * 1024 * GiB), fresh(1)])).toThrow(/object limit/);
    expect(planCompose([old(0, 5 * 1024 * GiB)]).parts.length).toBeLessThanOrEqual(10_000);
    expect(() => planCompose([old(5, 4)])).toThrow(RangeError);
    expect(() => planCompose([fresh(-1)])).toThrow(RangeError);
    expect(() => planCompose([fresh(1.5)])).toThrow(RangeError);
  });

  test("property: any pieces, small limits: the parts stand for the pieces and keep every rule", () => {
    const limits: PartLimits = { minPart: 8, maxPart: 40, maxParts: 12, maxObject: 12 * 20 };
    const piece = fc.oneof(
      fc.record({ kind: fc.constant("new" as const), length: fc.integer({ min: 0, max: 30 }) }),
      fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 60 })).map(([start, length]) => old(start, start + length)),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 20 }), (pieces) => {
        const size = pieces.reduce((sum, p) => sum + (p.kind === "new" ? p.length : p.end - p.start), 0);
        if (size > limits.maxObject) return;
        expectWithinRules(pieces, planCompose(pieces, limits), limits);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("composePieces", () => {
  const m = (offset: number, length: number, key: string): PlacedMember => ({ offset, length, key });
  test("unchanged members are old ranges, runs stay in order, the rest is new", () => {
    const old = [m(0, 10, "a"), m(10, 10, "b"), m(20, 10, "c"), m(30, 5, "a")];
    // new: a, X (changed), c, then 4 trailing bytes that are no member
    const next = [m(0, 10, "a"), m(10, 7, "x"), m(17, 10, "c")];
    expect(composePieces(next, old, 31)).toEqual([
      { kind: "old", start: 0, end: 10 },
      { kind: "new", length: 7 },
      { kind: "old", start: 20, end: 30 },
      { kind: "new", length: 4 },
    ]);
  });

  test("a repeated member follows the run it continues; a same key with another length is new", () => {
    const old = [m(0, 5, "a"), m(5, 5, "b"), m(10, 5, "a"), m(15, 5, "c")];
    expect(composePieces([m(0, 5, "b"), m(5, 5, "a"), m(10, 5, "c")], old, 15)).toEqual([
      { kind: "old", start: 5, end: 10 },
      { kind: "old", start: 10, end: 15 },
      { kind: "old", start: 15, end: 20 },
    ]);
    expect(composePieces([m(0, 6, "a")], old, 6)).toEqual([{ kind: "new", length: 6 }]);
    expect(composePieces([], [], 0)).toEqual([]);
  });
});
