// What travels for each chunk: kept or not when it is cut, then after the server's NEED the whole chunk, a delta, or nothing.
import { HashRelayError } from "../../errors.ts";
import { AEAD_TAG_BYTES, CHUNK_MAX, FrameType, MAX_CHUNK_FRAME, MAX_DELTA_SOURCES } from "../../protocol/constants.ts";
import {
  BlockIndex,
  blocksOf,
  chunkDeltaOps,
  deltaPieces,
  sourceCount,
  type ChunkBlocks,
  type DeltaPiece,
} from "../../archive/chunk-delta.ts";
import { piecesOfRaw, withOldHeaders, type OldHeader } from "../../archive/old-headers.ts";
import { encodeContextDelta } from "../../archive/context-delta.ts";
import type { BatchedDelta } from "../../archive/delta-batch.ts";
import type { ManifestEntry } from "../../protocol/binary-frames.ts";
import { blockKey } from "../../io/block-key.ts";
import type { ChunkWork, ChunkWorkers } from "../chunk-workers.ts";
import { deflateRaw } from "../../io/compress.ts";
import type { BuiltChunk } from "../archive-builder.ts";
import type { NewChunkBlocks } from "../source-index/index-writer.ts";
import type { SourceIndex } from "../source-index/source-index.ts";
import type { KeptChunk, OutgoingPage } from "./page-builder.ts";
import { PageQuestions, type DeltaPlan } from "./page-questions.ts";
import type { ProofAnswers } from "./proof-answers.ts";
import type { ReplyOrder } from "./reply-order.ts";
import type { WholeChunks } from "./whole-chunks.ts";
import type { ChunkFrame } from "./upload-tally.ts";

/** A delta is sent instead of the whole chunk when at most this share of its bytes is literal. */
const DELTA_MAX_LITERAL_SHARE = 0.5;
const MAX_DELTA_BODY = MAX_CHUNK_FRAME - AEAD_TAG_BYTES - 4;

/** The base the server accepted (`send-manifest` with `base: true`): the last archive, through its source index. */
export interface AcceptedBase {
  index: SourceIndex;
}

/**
 * A needed delta of a version-3 session, which the sender may put in a DELTA_BATCH: what the batch needs
 * of it, and its own frame, made only when first asked for (a version-4 batch never asks).
 */
export interface BatchableDelta {
  delta: BatchedDelta;
  alone: () => ChunkFrame;
}

/**
 * One chunk settled: its blocks (for the new source index) and, if the server needs it, the frame to
 * send or, for a delta in a version-3 session, the delta the sender may batch.
 */
export interface ChunkOutcome {
  blocks: NewChunkBlocks;
  frame?: ChunkFrame;
  batchable?: BatchableDelta;
  /** A whole chunk that goes into the upload's chunk stream (§8.10): its raw bytes, until release(). */
  streamed?: StreamedChunk;
}

/** A whole chunk for the chunk stream: its index and raw bytes (a worker's buffer, back with release()). */
export interface StreamedChunk {
  index: number;
  raw: Uint8Array;
  release(): void;
}

/**
 * Chooses, chunk by chunk, what the client keeps and what it sends. `previous`: the last archive's
 * source index, when the client has it (it names the chunks whose blocks are known); `base`: set only
 * when the server accepted that archive as the base, so deltas may be sent; `subBlocks`: set when the
 * session speaks version 3, so each page's deltas may be cut finer with the server's sub-block hashes.
 */
export class ChunkChoice {
  constructor(
    private readonly base: AcceptedBase | null,
    private readonly previous: SourceIndex | null,
    private readonly workers: ChunkWorkers,
    private readonly proofs: ProofAnswers,
    private readonly subBlocks: ReplyOrder | null = null,
    /** How whole chunks travel: members, or the chunk stream (whole-chunks.ts); members when not given. */
    private readonly wholeChunks: WholeChunks | null = null,
  ) {}

  /**
   * When `chunk` is cut: what its page holds of it, and how many raw bytes that is. `chunk.raw` is the
   * builder's view, valid during this call: whatever is kept is copied.
   */
  atCut(chunk: BuiltChunk): { kept: KeptChunk; bytes: number } {
    if (!chunk.raw) return { kept: { kind: "none", from: chunk.reused! }, bytes: 0 };
    const from = this.previous ? this.previous.positionOf(chunk.id) : -1;
    if (this.base && from >= 0) {
      // In the base the server holds: it will not be asked for, so its bytes are not kept (as for
      // chunks not read at all); only proof answers running low are made while the bytes are here.
      this.proofs.makeHere(chunk.id, chunk.raw, this.proofs.firstRound(chunk.id));
      return { kept: { kind: "none", from }, bytes: 0 };
    }
    if (!this.base && from < 0) {
      // No base to describe it against: it will almost surely travel whole (ChunkWorkers.run copies the view).
      const first = this.proofs.firstRound(chunk.id);
      // its member made with its blocks, unless it may go into the chunk stream (kept raw until that is known)
      const now = !this.wholeChunks || this.wholeChunks.compressNow();
      const job = this.workers
        .run(chunk.id, chunk.raw, now ? chunk.index : null, first, { keepRaw: !now })
        .then((r) => (this.proofs.keep(chunk.id, first, r.tokens), r));
      job.catch(() => undefined); // awaited once the NEED is read; a failure before that is not unhandled
      return { kept: { kind: "early", job }, bytes: chunk.rawLength };
    }
    return {
      kept: { kind: "raw", raw: chunk.raw.slice(), from, oldSpan: chunk.oldSpan, oldHeaders: chunk.oldHeaders },
      bytes: chunk.raw.length,
    };
  }

  /**
   * After the NEED of `page`: each chunk's outcome, in order, its work started now (deltas are made
   * here, whole chunks on the worker threads). `needed` still a promise (a version-5 session, right
   * behind the page): the deltas start now all the same, and the page's sub-block question goes before
   * its NEED is read, since a delta candidate went as a derived entry, which the server always needs
   * (PROTOCOL.md §8.5); the other chunks wait for the NEED. Rejects STORAGE for a chunk that was not
   * read and that the server no longer holds.
   */
  outcomesOf(page: OutgoingPage, needed: ReadonlySet<number> | Promise<ReadonlySet<number>>): Promise<ChunkOutcome>[] {
    const questions = this.subBlocks && this.base ? new PageQuestions(this.subBlocks, page.first, this.base.index) : null;
    const outcomes = page.entries.map((entry, i) => {
      const index = page.first + i;
      const kept = page.kept[i]!;
      if (!(needed instanceof Promise)) return this.outcomeOf(entry, index, kept, needed.has(index), questions);
      if (this.base && kept.kind === "raw" && kept.oldSpan) return this.outcomeOf(entry, index, kept, true, questions);
      return needed.then((set) => this.outcomeOf(entry, index, kept, set.has(index), null));
    });
    questions?.send();
    return outcomes;
  }

  private outcomeOf(
    entry: ManifestEntry,
    index: number,
    kept: KeptChunk,
    needed: boolean,
    questions: PageQuestions | null,
  ): Promise<ChunkOutcome> {
    if (kept.kind === "early") {
      // the server has it already (the same bytes earlier in this archive): compressed for nothing
      return kept.job.then((r) => {
        if (!needed) {
          r.release();
          return { blocks: r.blocks };
        }
        if (r.payload) return { blocks: r.blocks, frame: wholeChunk(r) };
        return this.wholeOfRaw(entry, index, r);
      });
    }
    if (kept.kind === "none") {
      // taken from the base without reading, or read and found in the base: the server holds the base, so it never needs it
      if (needed) {
        return Promise.reject(
          new HashRelayError(
            "STORAGE",
            `server no longer holds chunk ${index} of its base archive`,
            "the next backup reads and sends everything it lacks",
          ),
        );
      }
      return Promise.resolve({ blocks: { id: entry.id, rawLength: entry.rawLength, from: kept.from } });
    }
    const { raw, from, oldHeaders } = kept;
    const reused = from >= 0 ? { id: entry.id, rawLength: entry.rawLength, from } : null;
    const first = this.proofs.firstRound(entry.id);
    if (!needed) {
      if (reused) {
        this.proofs.makeHere(entry.id, raw, first);
        return Promise.resolve({ blocks: reused });
      }
      return this.workers.run(entry.id, raw, null, first).then((r) => (this.proofs.keep(entry.id, first, r.tokens), { blocks: r.blocks }));
    }
    if (this.base && kept.oldSpan) {
      const blocks = from >= 0 ? this.base.index.blocksOf(from) : blocksOf(entry.id, raw, blockKey);
      const candidates = new BlockIndex(this.base.index.candidates(kept.oldSpan.lo, kept.oldSpan.hi));
      const plan = deltaPiecesOf(raw, blocks, candidates, oldHeaders);
      const finer = questions ? questions.refine(raw, plan) : Promise.resolve(plan);
      // version 3: a copy names its source by its place in the base (§8.7 BASE_COPY)
      const baseIndexOf = questions ? (id: Uint8Array) => this.base!.index.positionOf(id) : undefined;
      return finer.then((p) => {
        if (baseIndexOf && deltaFits(raw, p, true)) {
          this.proofs.makeHere(entry.id, raw, first);
          // Its own frame is compressed only if it travels alone: a batch compresses its literal bytes again.
          let frame: ChunkFrame | undefined;
          const alone = () => (frame ??= deltaFrame(index, raw, p, baseIndexOf)!);
          return { blocks, batchable: { delta: { index, raw, pieces: p.pieces }, alone } };
        }
        const frame = deltaFrame(index, raw, p, baseIndexOf);
        if (!frame) return this.whole(entry, raw, index, first);
        this.proofs.makeHere(entry.id, raw, first);
        return { blocks, frame };
      });
    }
    return this.whole(entry, raw, index, first);
  }

  /** The whole chunk, compressed on a worker thread (its proof answers made there), or kept raw for the chunk stream. */
  private whole(entry: ManifestEntry, raw: Uint8Array, index: number, first: number | null): Promise<ChunkOutcome> {
    const stream = this.wholeChunks?.streams() === true;
    return this.workers.run(entry.id, raw, stream ? null : index, first, { keepRaw: stream }).then((r) => {
      this.proofs.keep(entry.id, first, r.tokens);
      return stream ? streamedOf(index, r) : { blocks: r.blocks, frame: wholeChunk(r) };
    });
  }

  /** A needed chunk read raw (`r`, before its way was known): into the chunk stream, or its member made now. */
  private async wholeOfRaw(entry: ManifestEntry, index: number, r: ChunkWork): Promise<ChunkOutcome> {
    if (this.wholeChunks?.streams()) return streamedOf(index, r);
    try {
      const member = await this.workers.compress(entry.id, r.raw!, index);
      return { blocks: r.blocks, frame: wholeChunk(member) };
    } finally {
      r.release();
    }
  }
}

/** Where deltaPiecesOf patches a chunk's old headers (a chunk is at most CHUNK_MAX bytes). */
const patchScratch = new Uint8Array(CHUNK_MAX);

/**
 * `raw` (cut into `blocks`) as copies from `candidates` and literal runs. When it holds headers whose
 * size or mtime moved (`oldHeaders`), also as the chunk with those headers as they were, cut again: a
 * block that then matches is copied but for the bytes that moved. The one with fewer literal bytes.
 */
function deltaPiecesOf(
  raw: Uint8Array,
  blocks: ChunkBlocks,
  candidates: BlockIndex,
  oldHeaders: readonly OldHeader[] | undefined,
): DeltaPlan {
  const plain = deltaPieces(blocks, candidates);
  // the patched copy is used only within this call: one scratch buffer serves every chunk
  const patched = oldHeaders && plain.literalBytes > 0 ? withOldHeaders(raw, oldHeaders, patchScratch) : null;
  if (!patched) return plain;
  const pieces = piecesOfRaw(deltaPieces(blocksOf(blocks.id, patched, blockKey), candidates).pieces, raw, patched);
  const literalBytes = pieces.reduce((sum, p) => sum + ("literal" in p ? p.literal.length : 0), 0);
  return literalBytes < plain.literalBytes ? { pieces, literalBytes } : plain;
}

/**
 * Whether `plan` may travel as a delta: at most half of `raw` literal and at most MAX_DELTA_SOURCES
 * sources. `surely`: also when its CHUNK_DELTA body, deflated, cannot pass the frame bound (deflate
 * adds at most 5 bytes per 16 KiB stored block and a few more per stream), so that deltaFrame, which
 * sends the smaller of it and the CONTEXT_DELTA, cannot return null.
 */
function deltaFits(raw: Uint8Array, { pieces, literalBytes }: DeltaPlan, surely: boolean): boolean {
  if (literalBytes > raw.length * DELTA_MAX_LITERAL_SHARE || sourceCount(pieces) > MAX_DELTA_SOURCES) return false;
  if (!surely) return true;
  const opBytes = pieces.reduce((sum, p) => sum + ("copy" in p ? 41 : 5 + p.literal.length), 0);
  return opBytes + (opBytes >> 10) + 64 <= MAX_DELTA_BODY;
}

/**
 * The delta frame for a needed chunk of `plan`: a CONTEXT_DELTA (literal runs deflated with their
 * neighbours as dictionary) or a CHUNK_DELTA, whichever is smaller; null when sending the whole chunk is
 * better (deltaFits says no, or a body over the frame bound). `baseIndexOf`: the context delta's copies
 * name their sources by their place in the base (version 3).
 */
function deltaFrame(index: number, raw: Uint8Array, plan: DeltaPlan, baseIndexOf?: (id: Uint8Array) => number): ChunkFrame | null {
  if (!deltaFits(raw, plan, false)) return null;
  const { pieces } = plan;
  const context = encodeContextDelta(raw, pieces, baseIndexOf);
  const plain = deflateRaw(chunkDeltaOps(raw, pieces));
  const [type, body] = context.length <= plain.length ? [FrameType.SEALED_CONTEXT_DELTA, context] : [FrameType.SEALED_CHUNK_DELTA, plain];
  if (body.length > MAX_DELTA_BODY) return null;
  const payload = new Uint8Array(4 + body.length);
  new DataView(payload.buffer).setUint32(0, index);
  payload.set(body, 4);
  return { type, payload, bytes: body.length };
}

/** The outcome of chunk `index` that a worker kept raw (`keepRaw`) for the chunk stream. */
function streamedOf(index: number, r: ChunkWork): ChunkOutcome {
  return { blocks: r.blocks, streamed: { index, raw: r.raw!, release: r.release } };
}

/** The CHUNK frame of a chunk a worker compressed (`u32 index | member`). */
function wholeChunk(r: ChunkWork): ChunkFrame {
  return { type: FrameType.SEALED_CHUNK, payload: r.payload!, bytes: r.payload!.length - 4, release: r.release };
}
