// Consecutive deltas of one page gathered into DELTA_BATCH frames (version 3, PROTOCOL.md §8.9) when that is smaller.
import { encodeDeltaBatch, MAX_BATCH_CHUNKS, type BatchedDelta } from "../../archive/delta-batch.ts";
import { AEAD_TAG_BYTES, FrameType, MAX_CHUNK_FRAME } from "../../protocol/constants.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import type { ChunkFrame, UploadTally } from "./upload-tally.ts";

/** A batch is sent once its chunks' own frames would take this much: the batch stays well within MAX_CHUNK_FRAME. */
const BATCH_FLUSH_BYTES = 128 * 1024;
/** What a frame costs on the wire besides its payload: header and AEAD tag. */
const FRAME_COST = 5 + AEAD_TAG_BYTES;

/**
 * Holds the deltas the sender hands it, in index order, and puts them on the wire as one DELTA_BATCH
 * (their ops in one deflate stream, their literal bytes in another) when that is smaller than their own
 * frames, else as those frames. It holds at most MAX_BATCH_CHUNKS chunks' raw bytes; flush() before any
 * other frame of the page and at its end keeps the chunks in index order.
 */
export class DeltaBatcher {
  private pending: { delta: BatchedDelta; frame: ChunkFrame }[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly session: SecureSession,
    private readonly tally: UploadTally,
    /** A delta source's place in the accepted base, or -1. */
    private readonly baseIndexOf: (id: Uint8Array) => number,
    /** A version-4 session: the literal stream has the bytes before each run as dictionary (§8.9). */
    private readonly withContext = false,
  ) {}

  /** Adds one delta (and the frame it would travel in alone); sends the batch once it is full. */
  async add(delta: BatchedDelta, frame: ChunkFrame): Promise<void> {
    this.pending.push({ delta, frame });
    this.pendingBytes += frame.payload.length + FRAME_COST;
    if (this.pending.length >= MAX_BATCH_CHUNKS || this.pendingBytes >= BATCH_FLUSH_BYTES) await this.flush();
  }

  /** Sends what it holds: one DELTA_BATCH when smaller than the frames alone, else each frame. */
  async flush(): Promise<void> {
    const held = this.pending;
    const alone = this.pendingBytes;
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
      if (body.length + AEAD_TAG_BYTES <= MAX_CHUNK_FRAME && body.length + FRAME_COST < alone) {
        await this.session.sendBinary(FrameType.SEALED_DELTA_BATCH, body);
        this.tally.sentBatch(held.length, body.length);
        return;
      }
    }
    for (const { frame } of held) {
      await this.session.sendBinary(frame.type, frame.payload);
      this.tally.sent(frame);
    }
  }
}
