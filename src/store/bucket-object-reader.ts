// An object in the bucket read at positions like a file, through ranged GETs of one window: never whole in memory.
import type { S3Client } from "../io/s3-client.ts";
import type { ReadableAt } from "./archive-file.ts";

/** Bytes asked for per ranged GET: a scrub's reads (one member, or a scan block) fall inside one window or two. */
const WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * Object `key` of `size` bytes (from its listing) as a ReadableAt: each read is served from the window
 * last fetched, or a new window is fetched from the read's position. What the store throws (S3Error)
 * passes through and is kept in `failure`; reads at or past `size` read 0 bytes, as at a file's end.
 */
export class BucketObjectReader implements ReadableAt {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;
  /** What the store threw at a read: a scrub reports a short read as damage, so its caller must tell an unreachable store apart. */
  failure: Error | null = null;

  constructor(
    private readonly s3: S3Client,
    private readonly key: string,
    readonly size: number,
  ) {}

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    if (length <= 0 || position >= this.size) return { bytesRead: 0 };
    const inWindow = position >= this.windowStart && position < this.windowStart + this.window.length;
    if (!inWindow) {
      const end = Math.min(this.size, position + Math.max(WINDOW_BYTES, length));
      this.window = await this.s3.getBytes(this.key, { start: position, end }).catch((err: Error) => {
        this.failure = err;
        throw err;
      });
      this.windowStart = position;
    }
    const from = position - this.windowStart;
    const bytesRead = Math.min(length, this.window.length - from);
    buffer.set(this.window.subarray(from, from + bytesRead), offset);
    return { bytesRead };
  }
}
