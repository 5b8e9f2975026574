// The client's chunk jobs on worker threads: compress chunks, index their blocks and make their proof answers.
import type { ChunkBlocks } from "../archive/chunk-delta.ts";
import { payloadRoom, type ChunkJob, type ChunkJobResult } from "../archive/chunk-job.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import { WorkerPool } from "../io/worker-pool.ts";
import { SpareBuffers } from "../protocol/spare-buffers.ts";

/**
 * Bytes of raw buffers back from the threads kept for later chunks at most: a page's chunks are copied
 * at once (upload/page-builder.ts's 8 MiB window), and those copies were alive then anyway. A fresh copy
 * per chunk cost more than the copy itself (page faults on every new buffer). A buffer now also holds its
 * chunk's payload until that is sent, so two pages' buffers are out at once: with 8 MiB, 1,648 of a scale-1
 * first backup's 4,327 chunks took a new buffer (190 MiB), with 32 MiB 275 (33 MiB), for the same peak RSS.
 */
const SPARE_RAW_BYTES = 32 * 1024 * 1024;
/** New raw buffers are a whole number of these, so that one serves later chunks of about its size. */
const RAW_BUFFER_STEP = 32 * 1024;

export interface ChunkWork {
  /** The chunk frame payload (`u32 index | member`) when the chunk was compressed, else null. */
  payload: Uint8Array | null;
  blocks: ChunkBlocks;
  /** PROOF_ROUNDS proof answers, when asked for. */
  tokens: Uint8Array | null;
  /** The chunk's raw bytes, when asked to keep them (`keepRaw`, not compressed): valid until release(). */
  raw: Uint8Array | null;
  /**
   * Call once the payload was sent or is not needed: its buffer then takes a later chunk (the payload is
   * written where the chunk's copy was). Not calling it only leaves the buffer to the collector.
   */
  release(): void;
}

export class ChunkWorkers {
  private readonly pool = new WorkerPool<ChunkJob, ChunkJobResult>();
  /** Buffers of chunks the threads are done with: the next chunks are copied into them. */
  private readonly spare = new SpareBuffers(SPARE_RAW_BYTES, RAW_BUFFER_STEP);

  constructor(
    private readonly format: ArchiveFormat = "tar.gz",
    /** The client's proof secret (client/proof-store.ts); null: no proof answers. */
    private readonly proofSecret: Uint8Array | null = null,
  ) {}

  /**
   * Cuts `raw` into blocks; when `compressAs` is its index in the archive, makes its chunk frame payload;
   * when `proofFirst` is a round number, makes PROOF_ROUNDS proof answers from it (needs the secret). A
   * copy of `raw` goes to the worker: the caller may reuse its buffer as soon as run returns (it may be a
   * view into the archive builder's buffers, which must not be detached). The copy's buffer comes back
   * with the result and takes a later chunk: nothing returned views it, unless `keepRaw` (not compressed:
   * the result's `raw` holds the bytes until release()). `blocks` false: no block index (a chunk's member made
   * later, `compress`). Throws INTERNAL if a worker died.
   */
  async run(
    id: Uint8Array,
    raw: Uint8Array,
    compressAs: number | null,
    proofFirst: number | null = null,
    { keepRaw = false, blocks = true } = {},
  ): Promise<ChunkWork> {
    const own = this.copyOf(raw, compressAs === null ? raw.length : payloadRoom(raw.length));
    const proof = proofFirst !== null && this.proofSecret ? { secret: this.proofSecret, first: proofFirst } : null;
    const job: ChunkJob = { job: this.pool.number(), raw: own, id, compressAs, format: this.format, proof, blocks };
    const r = await this.pool.run(job, [own.buffer as ArrayBuffer]);
    const buffer = r.raw.buffer as ArrayBuffer;
    const held = r.payload?.buffer === buffer || (keepRaw && r.payload === null);
    if (!held) this.spare.give(buffer);
    const release = held ? () => this.spare.give(buffer) : () => undefined;
    const kept = keepRaw && r.payload === null ? r.raw : null;
    return {
      payload: r.payload,
      blocks: { id, rawLength: raw.length, lengths: r.lengths, keys: r.keys },
      tokens: r.tokens,
      raw: kept,
      release,
    };
  }

  /** The chunk frame payload of `raw`, the chunk at `index` (a chunk read before it was known to go as a member). */
  async compress(id: Uint8Array, raw: Uint8Array, index: number): Promise<ChunkWork> {
    return this.run(id, raw, index, null, { blocks: false });
  }

  /** `raw` copied into a spare buffer of at least `room` bytes, else into a new one. */
  private copyOf(raw: Uint8Array, room: number): Uint8Array {
    const own = new Uint8Array(this.spare.take(room), 0, raw.length);
    own.set(raw);
    return own;
  }

  /** Ends the threads; pending jobs are rejected. */
  close(): void {
    this.pool.close();
  }
}
