// A pool of worker threads (one per core) that compress chunks, index their blocks and make their proof answers (client), or only compress (server).
import os from "node:os";
import { HashRelayError } from "../errors.ts";
import type { ChunkBlocks } from "../archive/chunk-delta.ts";
import type { ChunkJob, ChunkJobResult } from "./chunk-worker.ts";

declare const HASHRELAY_BUNDLED: boolean | undefined;

/**
 * The worker's entry. In the compiled binary it is the second entrypoint embedded by build/build.ts,
 * named by the plain relative string (a URL built from import.meta.url would point at the build
 * machine's dist/ folder); in development it is the file beside this one.
 */
function workerUrl(): string | URL {
  const bundled = typeof HASHRELAY_BUNDLED !== "undefined" && HASHRELAY_BUNDLED;
  return bundled ? "./chunk-worker.mjs" : new URL("./chunk-worker.ts", import.meta.url);
}

export class ChunkWorkers {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: ChunkJobResult) => void; reject: (e: Error) => void }>();
  private next = 0;
  private failure: Error | null = null;

  /** Threads start at the first job: a source that turns out unchanged costs none. */
  constructor(
    private readonly format: "tar.gz" | "tar.zst" = "tar.gz",
    /** The client's proof secret (client/proof-store.ts); null: no proof answers. */
    private readonly proofSecret: Uint8Array | null = null,
    private readonly size = Math.max(1, Math.min(os.availableParallelism(), 4)),
  ) {}

  private start(): void {
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(workerUrl());
      worker.onmessage = (event: MessageEvent<ChunkJobResult>) => {
        const waiter = this.pending.get(event.data.job);
        this.pending.delete(event.data.job);
        waiter?.resolve(event.data);
      };
      worker.onerror = (event) => {
        this.failure = new HashRelayError("INTERNAL", `chunk worker failed: ${event.message}`);
        for (const waiter of this.pending.values()) waiter.reject(this.failure);
        this.pending.clear();
      };
      this.workers.push(worker);
    }
  }

  /**
   * Cuts `raw` into blocks, when `compressAs` is its index in the archive makes its chunk frame payload
   * (`u32 index | member`), and when `proofFirst` is a round number makes PROOF_ROUNDS proof answers
   * from it (needs the secret). A copy of `raw` goes to the worker: the caller may reuse its buffer
   * as soon as run returns. Jobs are spread round-robin; results come back
   * in any order, each promise with its own job's result. Throws INTERNAL if a worker died.
   */
  run(
    id: Uint8Array,
    raw: Uint8Array,
    compressAs: number | null,
    proofFirst: number | null = null,
  ): Promise<{ payload: Uint8Array | null; blocks: ChunkBlocks; tokens: Uint8Array | null }> {
    if (this.failure) return Promise.reject(this.failure);
    const job = this.next++;
    const rawLength = raw.length;
    // A copy is handed over: `raw` may be a view into the archive builder's buffers, which must not be detached.
    const own = raw.slice();
    const proof = proofFirst !== null && this.proofSecret ? { secret: this.proofSecret, first: proofFirst } : null;
    return this.post({ job, raw: own, id, compressAs, format: this.format, proof, blocks: true }).then((r) => ({
      payload: r.payload,
      blocks: { id, rawLength, lengths: r.lengths, keys: r.keys },
      tokens: r.tokens,
    }));
  }

  /**
   * The member (of `format`) that `raw` compresses to. `raw` goes to the worker as it is (no copy): the
   * caller must not use it afterwards. Throws INTERNAL if a worker died.
   */
  compress(raw: Uint8Array, format: "tar.gz" | "tar.zst"): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    const own = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : raw.slice();
    return this.post({ job: this.next++, raw: own, id: new Uint8Array(0), compressAs: 0, format, proof: null, blocks: false }).then((r) =>
      r.payload!.subarray(4),
    );
  }

  private post(message: ChunkJob): Promise<ChunkJobResult> {
    if (this.workers.length === 0) this.start();
    const worker = this.workers[message.job % this.workers.length]!;
    return new Promise<ChunkJobResult>((resolve, reject) => {
      this.pending.set(message.job, { resolve, reject });
      worker.postMessage(message, [message.raw.buffer as ArrayBuffer]);
    });
  }

  /** Ends the threads; pending jobs are rejected. */
  close(): void {
    this.failure ??= new HashRelayError("INTERNAL", "chunk workers closed");
    for (const worker of this.workers) worker.terminate();
    for (const waiter of this.pending.values()) waiter.reject(new HashRelayError("INTERNAL", "chunk workers closed"));
    this.pending.clear();
  }
}
