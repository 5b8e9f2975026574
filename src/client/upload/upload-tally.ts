// How far one source's upload has got: the counters its result reports and the progress it shows.
import type { SourceResult, SourceStatus } from "../source-result.ts";
import type { UploadProgress } from "./upload-context.ts";

/** One chunk frame as it goes on the wire: its frame type, its payload, and the archive bytes it counts for. */
export interface ChunkFrame {
  type: number;
  payload: Uint8Array;
  /** Archive payload bytes (the member or the delta, without the u32 index). */
  bytes: number;
  /** Called once the frame is sealed and sent: the payload's buffer may take a later chunk (ChunkWork.release). */
  release?: () => void;
}

/**
 * The counters of one source's upload. backupSource owns it; the page builder counts what is hashed,
 * the chunk sender what is sent, the transfer the chunk total. Every change is reported to `onProgress`
 * with one progress object, updated in place.
 */
export class UploadTally {
  bytesSent = 0;
  chunksSent = 0;
  chunksTotal = 0;
  /** A CHUNK_DELTA went out (set by the chunk sender): a HASH_MISMATCH then means the server could not apply one. */
  usedDeltas = false;
  private progress: UploadProgress | null = null;

  constructor(
    readonly name: string,
    private readonly onProgress?: (progress: UploadProgress) => void,
  ) {}

  /** The walk is done: `totalBytes` is the tar stream's estimated size. */
  walked(totalBytes: number): void {
    this.progress = { name: this.name, totalBytes, bytesHashed: 0, bytesSent: 0 };
    this.onProgress?.(this.progress);
  }

  /** One more chunk cut (or taken from the last archive without reading: the bar follows the tar stream). */
  hashed(rawLength: number): void {
    if (!this.progress) return;
    this.progress.bytesHashed += rawLength;
    this.onProgress?.(this.progress);
  }

  /** One more chunk frame put on the wire. */
  sent(frame: ChunkFrame): void {
    this.sentBatch(1, frame.bytes);
  }

  /** `chunks` chunks put on the wire in one frame of `bytes` archive payload bytes (one, or a DELTA_BATCH). */
  sentBatch(chunks: number, bytes: number): void {
    this.bytesSent += bytes;
    this.chunksSent += chunks;
    if (!this.progress) return;
    this.progress.bytesSent = this.bytesSent;
    this.onProgress?.(this.progress);
  }

  /** The source's result with these counters. */
  result(
    status: SourceStatus,
    archive: string | null,
    extra: Partial<Pick<SourceResult, "error" | "held" | "chunksTotal">> = {},
  ): SourceResult {
    const { chunksTotal = this.chunksTotal, ...rest } = extra;
    return { name: this.name, archive, status, bytesSent: this.bytesSent, chunksTotal, chunksSent: this.chunksSent, ...rest };
  }
}
