// How many uploads may send their whole chunks as a chunk stream at once (PROTOCOL.md §8.10).
import { availableParallelism } from "node:os";

/**
 * The server makes the members of a streamed upload itself, a deflate per chunk on its compression threads.
 * `send-manifest` grants a stream while fewer than `limit` uploads (default: one per core) are streaming; an
 * upload counts from its first CHUNK_STREAM frame to its end (a client on a fast link never uses its grant).
 */
export class StreamGrants {
  private streaming = 0;

  constructor(private limit = availableParallelism()) {}

  /** server.limits.streams after a reload (null: one per core); uploads streaming already go on. */
  setLimit(limit: number | null): void {
    this.limit = limit ?? availableParallelism();
  }

  /** Whether `send-manifest` may grant a stream now. */
  room(): boolean {
    return this.streaming < this.limit;
  }

  /** An upload sent its first CHUNK_STREAM frame. */
  started(): void {
    this.streaming++;
  }

  /** An upload that had started streaming ended. */
  ended(): void {
    this.streaming = Math.max(0, this.streaming - 1);
  }
}

/** The grants of sessions whose context names none: the process's. */
export const processStreamGrants = new StreamGrants();
