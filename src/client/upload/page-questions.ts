// One page's question for sub-block hashes (PROTOCOL.md §8.8): the literal runs of its deltas asked about together, in one round trip.
import type { DeltaPiece } from "../../archive/chunk-delta.ts";
import { CONTEXT_OPS_BOUND } from "../../archive/context-delta.ts";
import { decodeSubHashes, encodeHashRequest } from "../../archive/sub-block-hashes.ts";
import { hashesAsked, questionsFor, withSubBlocks, type RunQuestion, type SubBlockSource } from "../../archive/sub-block-match.ts";
import { FrameType, MAX_HASH_RANGES, MAX_SUB_HASHES, SUB_HASH_BYTES } from "../../protocol/constants.ts";
import type { SourceIndex } from "../source-index/source-index.ts";
import type { ReplyOrder } from "./reply-order.ts";

/** A delta's pieces and how many of its bytes are literal. */
export interface DeltaPlan {
  pieces: DeltaPiece[];
  literalBytes: number;
}

interface AskedRun {
  raw: Uint8Array;
  plan: DeltaPlan;
  questions: RunQuestion[];
  hashes: number;
  settle: (plan: DeltaPlan) => void;
  fail: (err: unknown) => void;
}

/**
 * Gathers, for one page's deltas, the old bytes around their literal runs (by their place in the base the
 * server accepted, `base`), asks the server for their sub-block hashes in one HASH_REQUEST after the page's
 * NEED, and cuts each delta finer with the answer. What it holds is bounded by the page: at most
 * MAX_SUB_HASHES hashes of 8 bytes, and the raw bytes of the page's needed chunks, which it already kept.
 */
export class PageQuestions {
  private readonly runs: AskedRun[] = [];
  private readonly sources = new Map<Uint8Array, SubBlockSource | null>();
  private hashes = 0;
  private ranges = 0;

  constructor(
    private readonly replies: ReplyOrder,
    private readonly first: number,
    private readonly base: SourceIndex,
  ) {}

  /**
   * `plan` (a delta of `raw`) cut finer once the page's hashes are in; `plan` itself when nothing is asked for
   * it (no run between copies of the base, or the page's request is full). Rejects when the question fails.
   */
  refine(raw: Uint8Array, plan: DeltaPlan): Promise<DeltaPlan> {
    const questions = questionsFor(plan.pieces, (id) => this.sourceOf(id));
    const hashes = hashesAsked(questions);
    const ranges = questions.reduce((n, q) => n + q.ranges.length, 0);
    if (hashes === 0 || this.hashes + hashes > MAX_SUB_HASHES || this.ranges + ranges > MAX_HASH_RANGES) return Promise.resolve(plan);
    this.hashes += hashes;
    this.ranges += ranges;
    return new Promise((settle, fail) => this.runs.push({ raw, plan, questions, hashes, settle, fail }));
  }

  /** Sends the page's HASH_REQUEST when some delta asked; each refine() settles once its answer is read. */
  send(): void {
    if (this.runs.length === 0) return;
    const ranges = this.runs.flatMap((run) => run.questions.flatMap((q) => q.ranges));
    this.replies
      .ask(FrameType.SEALED_HASH_REQUEST, encodeHashRequest(this.first, ranges), FrameType.SEALED_SUB_HASHES)
      .then((body) => {
        const all = decodeSubHashes(body, this.first, this.hashes);
        let at = 0;
        for (const run of this.runs) {
          const hashes = new DataView(all.buffer, all.byteOffset + at, run.hashes * SUB_HASH_BYTES);
          at += run.hashes * SUB_HASH_BYTES;
          run.settle(finer(run.raw, run.plan, run.questions, hashes));
        }
      })
      // a run already settled ignores its fail
      .catch((err: unknown) => {
        for (const run of this.runs) run.fail(err);
      });
  }

  /** Where a copied chunk is in the base, and its length; null when the base does not hold it. */
  private sourceOf(id: Uint8Array): SubBlockSource | null {
    if (!this.sources.has(id)) {
      const at = this.base.positionOf(id);
      this.sources.set(id, at < 0 ? null : { id, baseIndex: at, rawLength: this.base.chunk(at).rawLength });
    }
    return this.sources.get(id)!;
  }
}

/** `plan` with its runs searched for the sub-blocks `hashes` answer; `plan` when that would take more ops than §8.7 allows. */
function finer(raw: Uint8Array, plan: DeltaPlan, questions: RunQuestion[], hashes: DataView): DeltaPlan {
  const pieces = withSubBlocks(raw, plan.pieces, questions, hashes);
  if (pieces.length * 41 > CONTEXT_OPS_BOUND) return plan;
  const literalBytes = pieces.reduce((sum, p) => sum + ("literal" in p ? p.literal.length : 0), 0);
  return { pieces, literalBytes };
}
