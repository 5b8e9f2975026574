// A pool of worker threads running the program's worker entry (src/worker.ts): post a job, get its result.
import os from "node:os";
import { HashRelayError } from "../errors.ts";

declare const HASHRELAY_BUNDLED: boolean | undefined;

/**
 * The worker's entry. In the compiled binary it is the second entrypoint embedded by build/build.ts,
 * named by the plain relative string (a URL built from import.meta.url would point at the build
 * machine's dist/ folder); in development it is src/worker.ts.
 */
function workerUrl(): string | URL {
  const bundled = typeof HASHRELAY_BUNDLED !== "undefined" && HASHRELAY_BUNDLED;
  return bundled ? "./worker.mjs" : new URL("../worker.ts", import.meta.url);
}

/** Every job and result carries the job's number, which pairs them. */
export interface Numbered {
  job: number;
}

/** One thread per core, at most 4: the main thread keeps reading and sending meanwhile. */
export const DEFAULT_WORKERS = Math.max(1, Math.min(os.availableParallelism(), 4));

export class WorkerPool<Job extends Numbered, Result extends Numbered> {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  private next = 0;
  private failure: Error | null = null;

  /** Threads start at the first job: a backup that needs none costs none. */
  constructor(private readonly size = DEFAULT_WORKERS) {}

  /** A fresh job number. */
  number(): number {
    return this.next++;
  }

  /**
   * Runs `job` on a thread (round-robin by job number), moving the buffers in `transfer` (the caller
   * must not use them afterwards). Results come back in any order, each to its own job's promise.
   * Rejects with INTERNAL when a worker died or the pool is closed.
   */
  run(job: Job, transfer: ArrayBuffer[]): Promise<Result> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.workers.length === 0) this.start();
    const worker = this.workers[job.job % this.workers.length]!;
    return new Promise<Result>((resolve, reject) => {
      this.pending.set(job.job, { resolve, reject });
      worker.postMessage(job, transfer);
    });
  }

  /** Ends the threads; pending jobs are rejected. Never throws. */
  close(): void {
    this.failure ??= new HashRelayError("INTERNAL", "worker threads closed");
    for (const worker of this.workers) worker.terminate();
    this.rejectAll(new HashRelayError("INTERNAL", "worker threads closed"));
  }

  private start(): void {
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(workerUrl());
      worker.onmessage = (event: MessageEvent<Result>) => {
        const waiter = this.pending.get(event.data.job);
        this.pending.delete(event.data.job);
        waiter?.resolve(event.data);
      };
      worker.onerror = (event) => {
        this.failure = new HashRelayError("INTERNAL", `worker thread failed: ${event.message}`);
        this.rejectAll(this.failure);
      };
      this.workers.push(worker);
    }
  }

  private rejectAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
