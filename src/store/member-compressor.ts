// Chunks the server rebuilt from deltas, compressed into members on worker threads while the session reads on.
import type { ChunkJob, ChunkJobResult } from "../archive/chunk-job.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import { WorkerPool } from "../io/worker-pool.ts";

export class MemberCompressor {
  private pool: WorkerPool<ChunkJob, ChunkJobResult> | null = null;

  /**
   * The member (of `format`) that `raw` compresses to. `raw` goes to the worker as it is (no copy when it
   * owns its buffer): the caller must not use it afterwards. Threads start at the first call. Throws
   * INTERNAL if a worker died or the compressor is closed.
   */
  async compress(raw: Uint8Array, format: ArchiveFormat): Promise<Uint8Array> {
    this.pool ??= new WorkerPool();
    const own = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : raw.slice();
    const job: ChunkJob = { job: this.pool.number(), raw: own, id: new Uint8Array(0), compressAs: 0, format, proof: null, blocks: false };
    const r = await this.pool.run(job, [own.buffer as ArrayBuffer]);
    return r.payload!.subarray(4);
  }

  /** Ends the threads; pending jobs are rejected. Never throws. */
  close(): void {
    this.pool?.close();
  }
}
