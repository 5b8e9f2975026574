// Consecutive deltas of one page gathered into DELTA_BATCH frames (version 3, PROTOCOL.md §8.9) when that is smaller.
import { encodeDeltaBatch, MAX_BATCH_CHUNKS, type BatchedDelta } from "../../archive/delta-batch.ts";
import { AEAD_TAG_BYTES, FrameType, MAX_CHUNK_FRAME } from "../../protocol/constants.ts";
import type { FrameSession } from "./opening-session.ts";
import type { BatchableDelta } from "./chunk-choice.ts";
import type { UploadTally } from "./upload-tally.ts";

/**
 * A batch is sent once its chunks' own frames (version 3), or their literal bytes (version 4, whose
 * batches do not make the chunks' own frames), would take this much: the batch stays within
 * MAX_CHUNK_FRAME but for a last chunk's incompressible literal bytes, which then travel in their own frames.
 */
const BATCH_FLUSH_BYTES = 128 * 1024;
/** What a frame costs on the wire besides its payload: header and AEAD tag. */
const FRAME_COST = 5 + AEAD_TAG_BYTES;

/**
 * Holds the deltas the sender hands it, in index order, and puts them on the wire as one DELTA_BATCH
 * (their ops in one deflate stream, their literal bytes in another) or as their own frames. Version 3
 * sends the batch when it is smaller than those frames; version 4 (the literal bytes a zstd stream with
 * the bytes before each run as dictionary, far smaller for two chunks or more) whenever it fits in a
 * frame, so that the chunks' own frames, a deflate per literal run, are never made for it. It holds at
 * most MAX_BATCH_CHUNKS chunks' raw bytes; flush() before any other frame of the page and at its end
 * keeps the chunks in index order.
 */
export class DeltaBatcher {
  private pending: BatchableDelta[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly session: FrameSession,
    private readonly tally: UploadTally,
    /** A delta source's place in the accepted base, or -1. */
    private readonly baseIndexOf: (id: Uint8Array) => number,
    /** A version-4 session: the literal stream has the bytes before each run as dictionary (§8.9). */
    private readonly withContext = false,
  ) {}

  /** Adds one delta; sends the batch once it is full. */
  async add(delta: BatchableDelta): Promise<void> {
    this.pending.push(delta);
    this.pendingBytes += this.withContext ? literalBytesOf(delta.delta) : delta.alone().payload.length + FRAME_COST;
    if (this.pending.length >= MAX_BATCH_CHUNKS || this.pendingBytes >= BATCH_FLUSH_BYTES) await this.flush();
  }

  /** Sends what it holds: one DELTA_BATCH (see the class), else each delta's own frame. */
  async flush(): Promise<void> {
    const held = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (held.length === 0) return;
    // Marked before the send: a delta that may have reached the server counts.
    this.tally.usedDeltas = true;
    if (held.length > 1) {
      const body = encodeDeltaBatch(
        held.map((h) => h.delta),
        this.baseIndexOf,
        this.withContext,
      );
      const smaller = () => body.length + FRAME_COST < held.reduce((sum, h) => sum + h.alone().payload.length + FRAME_COST, 0);
      if (body.length + AEAD_TAG_BYTES <= MAX_CHUNK_FRAME && (this.withContext || smaller())) {
        await this.session.sendBinary(FrameType.SEALED_DELTA_BATCH, body);
        this.tally.sentBatch(held.length, body.length);
        return;
      }
    }
    for (const h of held) {
      const frame = h.alone();
      await this.session.sendBinary(frame.type, frame.payload);
      this.tally.sent(frame);
    }
  }
}

/** The literal bytes of one delta. */
function literalBytesOf(delta: BatchedDelta): number {
  return delta.pieces.reduce((sum, p) => sum + ("literal" in p ? p.literal.length : 0), 0);
}
