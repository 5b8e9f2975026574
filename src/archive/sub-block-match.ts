// A delta's literal runs cut finer with the server's sub-block hashes of the old bytes around them (PROTOCOL.md §8.8).
import { SUB_BLOCK, SUB_HASH_BYTES } from "../protocol/constants.ts";
import { sameBytes } from "../protocol/identity.ts";
import type { DeltaPiece } from "./chunk-delta.ts";
import { rollWeak, strongHashAt, weakHashAt, type HashRange } from "./sub-block-hashes.ts";

/** Old bytes looked at on each side of a run: its own length and a few sub-blocks, so an insertion or deletion still finds them... */
const REACH_SLACK = 4 * SUB_BLOCK;
/** ...but never more than this: a long run is new bytes (an added file), whose hashes would only cost the answer. */
const REACH_MAX = 8192;

/** A base chunk a delta copies from: its id, where it is in the base, how long it is. */
export interface SubBlockSource {
  id: Uint8Array;
  baseIndex: number;
  rawLength: number;
}

/** A range of sub-blocks asked for, with the chunk id a copy of them names. */
export type SourcedRange = HashRange & { id: Uint8Array };

/** One literal run (`piece`, its index in the pieces) and the old ranges whose sub-blocks may hold its unchanged bytes. */
export interface RunQuestion {
  piece: number;
  ranges: SourcedRange[];
}

/**
 * For each literal run of `pieces` long enough to hold a sub-block: the old bytes around it, where the
 * copies on either side of it come from (`sourceOf` gives a copied chunk's place in the base, or null).
 * Between two copies of one chunk, the old bytes they left out (the stretch the run replaced), its first half
 * aligned on its start and its second on its end, so that both edges of the edit line up; otherwise the run's
 * length and a few sub-blocks after the copy before it and before the copy after it.
 */
export function questionsFor(pieces: readonly DeltaPiece[], sourceOf: (id: Uint8Array) => SubBlockSource | null): RunQuestion[] {
  const questions: RunQuestion[] = [];
  pieces.forEach((piece, i) => {
    if (!("literal" in piece) || piece.literal.length < SUB_BLOCK) return;
    const reach = Math.min(piece.literal.length, REACH_MAX) + REACH_SLACK;
    const before = copyAt(pieces, i - 1, sourceOf);
    const after = copyAt(pieces, i + 1, sourceOf);
    const ranges: SourcedRange[] = [];
    const end = before ? before.copy.offset + before.copy.length : 0;
    if (
      before &&
      after &&
      before.source.baseIndex === after.source.baseIndex &&
      after.copy.offset >= end &&
      after.copy.offset - end <= 2 * reach
    ) {
      const gap = after.copy.offset - end;
      const first = Math.floor(gap / (2 * SUB_BLOCK));
      const second = Math.floor((gap - first * SUB_BLOCK) / SUB_BLOCK);
      pushRange(ranges, before.source, end, first);
      pushRange(ranges, after.source, after.copy.offset - second * SUB_BLOCK, second);
    } else {
      if (before) pushRange(ranges, before.source, end, Math.floor(Math.min(reach, before.source.rawLength - end) / SUB_BLOCK));
      if (after) {
        const count = Math.floor(Math.min(reach, after.copy.offset) / SUB_BLOCK);
        pushRange(ranges, after.source, after.copy.offset - count * SUB_BLOCK, count);
      }
    }
    if (ranges.length > 0) questions.push({ piece: i, ranges });
  });
  return questions;
}

function copyAt(pieces: readonly DeltaPiece[], i: number, sourceOf: (id: Uint8Array) => SubBlockSource | null) {
  const piece = pieces[i];
  if (!piece || !("copy" in piece)) return null;
  const source = sourceOf(piece.copy.id);
  return source ? { copy: piece.copy, source } : null;
}

function pushRange(ranges: SourcedRange[], source: SubBlockSource, offset: number, count: number): void {
  if (count > 0) ranges.push({ baseIndex: source.baseIndex, offset, count, id: source.id });
}

/** How many hashes `questions` ask for. */
export function hashesAsked(questions: readonly RunQuestion[]): number {
  let n = 0;
  for (const q of questions) for (const r of q.ranges) n += r.count;
  return n;
}

/**
 * `pieces` of `raw` with each questioned run searched, at every offset (as rsync does), for the sub-blocks
 * whose hashes `hashes` holds (8 bytes each, in the order of `questions` and their ranges): a sub-block
 * found is copied, the rest of the run stays literal; adjacent copies of one chunk merge. A hash of zeros
 * (a chunk the server could not read) matches nothing.
 */
export function withSubBlocks(
  raw: Uint8Array,
  pieces: readonly DeltaPiece[],
  questions: readonly RunQuestion[],
  hashes: DataView,
): DeltaPiece[] {
  const found = new Map<number, DeltaPiece[]>();
  let at = 0;
  for (const q of questions) {
    const known = new Map<number, { id: Uint8Array; offset: number; strong: number }[]>();
    for (const r of q.ranges) {
      for (let k = 0; k < r.count; k++, at += SUB_HASH_BYTES) {
        const weak = hashes.getUint32(at);
        const strong = hashes.getUint32(at + 4);
        if (weak === 0 && strong === 0) continue;
        const list = known.get(weak) ?? [];
        list.push({ id: r.id, offset: r.offset + SUB_BLOCK * k, strong });
        known.set(weak, list);
      }
    }
    const piece = pieces[q.piece] as Extract<DeltaPiece, { literal: unknown }>;
    const before = pieces[q.piece - 1];
    found.set(q.piece, searchRun(raw, piece.literal, known, before && "copy" in before ? before.copy : null));
  }
  return mergeCopies(pieces.flatMap((p, i) => found.get(i) ?? [p]));
}

/**
 * The run [start, start + length) of `raw` as copies of the sub-blocks `known` holds and literal runs between
 * them; `before`: the copy just before the run, which a first sub-block found right at its start may continue.
 */
function searchRun(
  raw: Uint8Array,
  { start, length }: { start: number; length: number },
  known: Map<number, { id: Uint8Array; offset: number; strong: number }[]>,
  before: { id: Uint8Array; offset: number; length: number } | null,
): DeltaPiece[] {
  const out: DeltaPiece[] = [];
  const end = start + length;
  let literalFrom = start;
  let j = start;
  let weak = weakHashAt(raw, j);
  while (j + SUB_BLOCK <= end) {
    const candidates = known.get(weak);
    let match: { id: Uint8Array; offset: number } | undefined;
    if (candidates) {
      const strong = strongHashAt(raw, j);
      // where the same bytes stand more than once (tar's zero padding), the one that continues the last copy: one op, not many
      const last = out.length > 0 ? out.at(-1)! : before ? { copy: before } : null;
      const follows = last && "copy" in last && literalFrom === j ? last.copy : null;
      match =
        candidates.find(
          (c) => c.strong === strong && follows && c.offset === follows.offset + follows.length && sameBytes(c.id, follows.id),
        ) ?? candidates.find((c) => c.strong === strong);
    }
    if (match) {
      if (j > literalFrom) out.push({ literal: { start: literalFrom, length: j - literalFrom } });
      out.push({ copy: { id: match.id, offset: match.offset, length: SUB_BLOCK } });
      j += SUB_BLOCK;
      literalFrom = j;
      if (j + SUB_BLOCK <= end) weak = weakHashAt(raw, j);
    } else {
      if (j + SUB_BLOCK < end) weak = rollWeak(weak, raw[j]!, raw[j + SUB_BLOCK]!);
      j++;
    }
  }
  if (end > literalFrom) out.push({ literal: { start: literalFrom, length: end - literalFrom } });
  return out;
}

/** `pieces` with each copy that continues the one before it (same chunk, next offset) folded into it. */
function mergeCopies(pieces: readonly DeltaPiece[]): DeltaPiece[] {
  const out: DeltaPiece[] = [];
  for (const p of pieces) {
    const last = out.at(-1);
    if (
      last &&
      "copy" in last &&
      "copy" in p &&
      sameBytes(last.copy.id, p.copy.id) &&
      last.copy.offset + last.copy.length === p.copy.offset
    )
      out[out.length - 1] = { copy: { ...last.copy, length: last.copy.length + p.copy.length } };
    else out.push(p);
  }
  return out;
}
