// The source index of a source's last stored archive, read from disk by range: its chunks, their blocks, its ids, its segments.
import { join } from "node:path";
import { CHUNK_MAX } from "../../protocol/constants.ts";
import type { ChunkBlocks } from "../../archive/chunk-delta.ts";
import { ArchiveIdHasher, type ManifestEntry } from "../../archive/manifest.ts";
import type { BaseLookup } from "../../archive/manifest-diff.ts";
import {
  BLOCK_RECORD_BYTES,
  CHUNK_RECORD_BYTES,
  ID_RECORD_BYTES,
  SegmentDecoder,
  decodeBlockRecords,
  decodeChunkRecord,
  hashChunkRecords,
  type ChunkRecord,
} from "../../archive/source-index-records.ts";
import { compareIds } from "../../archive/sorted-ids.ts";
import type { SegmentCursor } from "../../archive/stream-map.ts";
import type { PreviousStream } from "../archive-builder.ts";
import { IndexFile, type IndexFileWriter } from "./index-files.ts";

/** The files of a source index, in its folder. */
export const INDEX_FILES = ["chunks", "blocks", "ids", "segments"] as const;

/**
 * How far around a changed stretch deltas look for blocks, in the old stream: a change that moved the
 * bytes around it by less than this still finds them.
 */
export const CANDIDATE_MARGIN = CHUNK_MAX;

/** Decoded blocks kept for chunks looked at lately (neighbouring changed chunks share their candidates). */
const BLOCK_CACHE_CHUNKS = 64;

/**
 * A source index opened for one backup. Nothing is loaded whole: each file is read by range through
 * a few cached pages (IndexFile), so memory does not grow with the source. Methods throw fs errors
 * only if a file that checked out becomes unreadable.
 */
export class SourceIndex {
  private readonly blockCache = new Map<number, ChunkBlocks>();
  private seekAt = 0;
  private closed = false;

  private constructor(
    private readonly chunks: IndexFile,
    private readonly blocks: IndexFile,
    private readonly ids: IndexFile,
    private readonly segmentFile: IndexFile,
  ) {}

  /**
   * Opens the index in folder `dir` if it is intact and describes archive `archiveId`: every header
   * names it, the chunk, id and segment records hash to what their headers say, and the chunk records
   * hash to the archive id (they are its manifest). Otherwise null: the backup then reads everything.
   */
  static open(dir: string, archiveId: string): SourceIndex | null {
    const files = [
      IndexFile.open(join(dir, "chunks"), "chunks", archiveId, CHUNK_RECORD_BYTES),
      IndexFile.open(join(dir, "blocks"), "blocks", archiveId, BLOCK_RECORD_BYTES),
      IndexFile.open(join(dir, "ids"), "ids", archiveId, ID_RECORD_BYTES),
      IndexFile.open(join(dir, "segments"), "segments", archiveId, 0),
    ];
    const [chunks, blocks, ids, segments] = files;
    const index = chunks && blocks && ids && segments ? new SourceIndex(chunks, blocks, ids, segments) : null;
    if (index?.checksOut(archiveId)) return index;
    for (const file of files) file?.close();
    return null;
  }

  get chunkCount(): number {
    return this.chunks.header.count;
  }

  /** The archive's tar stream size: where its last chunk ends. */
  get streamBytes(): number {
    const last = this.chunkCount - 1;
    return last < 0 ? 0 : this.startOf(last) + this.rawLengthOf(last);
  }

  /** Chunk `i` of the archive. */
  chunk(i: number): ChunkRecord {
    return decodeChunkRecord(this.chunks.bytes(i * CHUNK_RECORD_BYTES, CHUNK_RECORD_BYTES), 0);
  }

  /** Index of the first chunk carrying `id`, or -1 (a binary search of the ids file). */
  positionOf(id: Uint8Array): number {
    let lo = 0;
    let hi = this.ids.header.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const order = compareIds(this.ids.bytes(mid * ID_RECORD_BYTES, 32), id);
      if (order === 0) return this.ids.u32(mid * ID_RECORD_BYTES + 32);
      if (order < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  /** The blocks of chunk `i`. */
  blocksOf(i: number): ChunkBlocks {
    const cached = this.blockCache.get(i);
    if (cached) return cached;
    const c = this.chunk(i);
    const { lengths, keys } = decodeBlockRecords(this.blocks.bytes(c.firstBlock * BLOCK_RECORD_BYTES, c.blocks * BLOCK_RECORD_BYTES));
    const blocks = { id: c.id, rawLength: c.rawLength, lengths, keys };
    if (this.blockCache.size >= BLOCK_CACHE_CHUNKS) this.blockCache.delete(this.blockCache.keys().next().value!);
    this.blockCache.set(i, blocks);
    return blocks;
  }

  /** How many blocks chunk `i` has. */
  blockCountOf(i: number): number {
    return this.chunks.u32(i * CHUNK_RECORD_BYTES + 36);
  }

  /** Appends the block records of chunks first … first+count-1 to `out` (a new index's blocks file); returns how many blocks. */
  copyBlocks(first: number, count: number, out: IndexFileWriter): number {
    const from = this.chunks.u64(first * CHUNK_RECORD_BYTES + 48);
    const last = first + count - 1;
    const blocks = this.chunks.u64(last * CHUNK_RECORD_BYTES + 48) + this.blockCountOf(last) - from;
    const buffer = new Uint8Array(Math.min(blocks * BLOCK_RECORD_BYTES, 256 * 1024));
    for (let at = from * BLOCK_RECORD_BYTES, end = (from + blocks) * BLOCK_RECORD_BYTES; at < end; ) {
      const got = this.blocks.readInto(buffer.subarray(0, Math.min(buffer.length, end - at)), at);
      if (got === 0) throw new Error(`block index ends before block ${at / BLOCK_RECORD_BYTES}`);
      out.append(buffer.subarray(0, got));
      at += got;
    }
    return blocks;
  }

  /** The blocks of the chunks overlapping old stream positions [lo - CANDIDATE_MARGIN, hi + CANDIDATE_MARGIN]: what a delta copies from. */
  candidates(lo: number, hi: number): ChunkBlocks[] {
    const out: ChunkBlocks[] = [];
    for (let i = this.chunkHolding(Math.max(0, lo - CANDIDATE_MARGIN)); i < this.chunkCount; i++) {
      if (this.startOf(i) > hi + CANDIDATE_MARGIN) break;
      out.push(this.blocksOf(i));
    }
    return out;
  }

  /** The last archive's stream for the builder: segments front to back, chunks by index. Call once per backup. */
  previousStream(): PreviousStream {
    const decoder = new SegmentDecoder(this.segmentFile.stream());
    const segments: SegmentCursor = { next: () => decoder.next() };
    return {
      segments,
      chunks: {
        count: this.chunkCount,
        rawLength: (i) => this.rawLengthOf(i),
        id: (i) => this.chunks.bytes(i * CHUNK_RECORD_BYTES, 32).slice(),
        seek: (at) => this.seek(at),
      },
    };
  }

  /** The base manifest as manifest-diff reads it. */
  readonly base: BaseLookup = {
    indexOf: (id) => this.positionOf(id),
    matchesAt: (index, entry) => index >= 0 && index < this.chunkCount && this.sameEntry(index, entry),
  };

  /** The archive's distinct chunk ids, ascending (views valid until the next step): one pass over its ids file. */
  distinctIds(): Generator<Uint8Array> {
    return idsOf(this.ids);
  }

  /** Closes the files; a second call does nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const file of [this.chunks, this.blocks, this.ids, this.segmentFile]) file.close();
    this.blockCache.clear();
  }

  private checksOut(archiveId: string): boolean {
    if (!this.chunks.intact() || !this.ids.intact() || !this.segmentFile.intact()) return false;
    const hasher = new ArchiveIdHasher();
    const take = this.chunks.sequential(CHUNK_RECORD_BYTES * 4096);
    for (let left = this.chunkCount; left > 0; left -= 4096) {
      const records = take(CHUNK_RECORD_BYTES * Math.min(left, 4096));
      if (!records) return false;
      hashChunkRecords(records, hasher);
    }
    if (hasher.digest() !== archiveId) return false;
    if (this.chunkCount === 0) return this.blocks.header.count === 0;
    const last = this.chunk(this.chunkCount - 1);
    return last.firstBlock + last.blocks === this.blocks.header.count;
  }

  private startOf(i: number): number {
    return this.chunks.u64(i * CHUNK_RECORD_BYTES + 40);
  }

  private rawLengthOf(i: number): number {
    return this.chunks.u32(i * CHUNK_RECORD_BYTES + 32);
  }

  /** The chunk starting at old position `at`, or -1; `at` only grows from call to call (a forward scan). */
  private seek(at: number): number {
    while (this.seekAt < this.chunkCount && this.startOf(this.seekAt) < at) this.seekAt++;
    return this.seekAt < this.chunkCount && this.startOf(this.seekAt) === at ? this.seekAt : -1;
  }

  /** The last chunk starting at or before old position `at` (0 when none does). */
  private chunkHolding(at: number): number {
    let lo = 0;
    let hi = this.chunkCount - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.startOf(mid) <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private sameEntry(index: number, entry: ManifestEntry): boolean {
    return this.rawLengthOf(index) === entry.rawLength && compareIds(this.chunks.bytes(index * CHUNK_RECORD_BYTES, 32), entry.id) === 0;
  }
}

/**
 * The distinct chunk ids of the index in folder `dir` (its ids file alone, which must name `archiveId`),
 * ascending, as views valid until the next step; nothing when the file is missing or names another
 * archive. Reads the file once, through one buffer. Throws fs errors.
 */
export function* idsInFolder(dir: string, archiveId: string): Generator<Uint8Array> {
  const ids = IndexFile.open(join(dir, "ids"), "ids", archiveId, ID_RECORD_BYTES);
  if (!ids) return;
  try {
    yield* idsOf(ids);
  } finally {
    ids.close();
  }
}

function* idsOf(ids: IndexFile): Generator<Uint8Array> {
  const take = ids.sequential(ID_RECORD_BYTES * 4096);
  for (let i = 0; i < ids.header.count; i++) {
    const record = take(ID_RECORD_BYTES);
    if (!record) throw new Error(`ids file ends before record ${i}`);
    yield record.subarray(0, 32);
  }
}
