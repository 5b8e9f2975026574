// The client's chunk jobs on worker threads: compress chunks, index their blocks and make their proof answers.
import type { ChunkBlocks } from "../archive/chunk-delta.ts";
import type { ChunkJob, ChunkJobResult } from "../archive/chunk-job.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import { WorkerPool } from "../io/worker-pool.ts";

export interface ChunkWork {
  /** The chunk frame payload (`u32 index | member`) when the chunk was compressed, else null. */
  payload: Uint8Array | null;
  blocks: ChunkBlocks;
  /** PROOF_ROUNDS proof answers, when asked for. */
  tokens: Uint8Array | null;
}

export class ChunkWorkers {
  private readonly pool = new WorkerPool<ChunkJob, ChunkJobResult>();

  constructor(
    private readonly format: ArchiveFormat = "tar.gz",
    /** The client's proof secret (client/proof-store.ts); null: no proof answers. */
    private readonly proofSecret: Uint8Array | null = null,
  ) {}

  /**
   * Cuts `raw` into blocks; when `compressAs` is its index in the archive, makes its chunk frame payload;
   * when `proofFirst` is a round number, makes PROOF_ROUNDS proof answers from it (needs the secret). A
   * copy of `raw` goes to the worker: the caller may reuse its buffer as soon as run returns (it may be a
   * view into the archive builder's buffers, which must not be detached). Throws INTERNAL if a worker died.
   */
  async run(id: Uint8Array, raw: Uint8Array, compressAs: number | null, proofFirst: number | null = null): Promise<ChunkWork> {
    const own = raw.slice();
    const proof = proofFirst !== null && this.proofSecret ? { secret: this.proofSecret, first: proofFirst } : null;
    const job: ChunkJob = { job: this.pool.number(), raw: own, id, compressAs, format: this.format, proof, blocks: true };
    const r = await this.pool.run(job, [own.buffer as ArrayBuffer]);
    return { payload: r.payload, blocks: { id, rawLength: raw.length, lengths: r.lengths, keys: r.keys }, tokens: r.tokens };
  }

  /** Ends the threads; pending jobs are rejected. */
  close(): void {
    this.pool.close();
  }
}
