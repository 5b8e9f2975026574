// Writes the source index of the archive being built, beside the current one, as its segments and chunks go by.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ChunkBlocks } from "../../archive/chunk-delta.ts";
import { CHUNK_RECORD_BYTES, SegmentEncoder, encodeBlockRecords, encodeChunkRecord } from "../../archive/source-index-records.ts";
import type { Segment } from "../../archive/stream-map.ts";
import { fsyncDir } from "../../io/atomic-file.ts";
import { DEFAULT_ID_SORT, IdRunSorter, type IdSortLimits } from "./id-runs.ts";
import { IndexFile, IndexFileWriter } from "./index-files.ts";
import type { SourceIndex } from "./source-index.ts";

/** A chunk of the new archive that is chunk `from` of the last archive: its blocks are copied, not recomputed. */
export interface ReusedBlocks {
  id: Uint8Array;
  rawLength: number;
  from: number;
}

/** What the new index records of one chunk: its blocks, or where in the last archive's index they are. */
export type NewChunkBlocks = ChunkBlocks | ReusedBlocks;

/**
 * The new source index, written into its own folder while the archive is built: segments as the
 * builder pulls entries, chunks (with their blocks) in archive order as the upload settles them.
 * Memory, whatever the archive's size: the write buffers (256 KiB a file) and the ids being sorted
 * for the ids file (IdRunSorter: at most ~6 MiB, the rest in run files in the folder until finish).
 * Nothing refers to the folder until the client's record of the source does (after the receipt);
 * `abandon` removes it.
 */
export class SourceIndexWriter {
  private readonly chunks: IndexFileWriter;
  private readonly blocks: IndexFileWriter;
  private readonly segments: IndexFileWriter;
  private readonly encoder = new SegmentEncoder();
  private readonly record = new Uint8Array(CHUNK_RECORD_BYTES);
  private readonly ids: IdRunSorter;
  private idsFile: IndexFileWriter | null = null;
  /** The archive named by finish: chunkIds reads the chunks file it wrote. */
  private archiveId: string | null = null;
  private chunkCount = 0;
  private segmentCount = 0;
  private blockCount = 0;
  private start = 0;
  /** Chunks of the last archive whose blocks are still to be copied: from, count. */
  private reuse = { from: 0, count: 0 };

  /**
   * Creates folder `dir` (0700, which must not exist) and its files. `previous`: the index reused
   * chunks come from; `idSort`: how many ids are sorted in memory at once. Throws fs errors.
   */
  constructor(
    readonly dir: string,
    private readonly previous: SourceIndex | null,
    idSort: IdSortLimits = DEFAULT_ID_SORT,
  ) {
    mkdirSync(dir, { mode: 0o700 });
    this.ids = new IdRunSorter(dir, idSort);
    this.chunks = new IndexFileWriter(join(dir, "chunks"), "chunks");
    this.blocks = new IndexFileWriter(join(dir, "blocks"), "blocks");
    this.segments = new IndexFileWriter(join(dir, "segments"), "segments");
  }

  /** Records the next tar entry's segment. */
  addSegment(segment: Segment): void {
    this.segments.append(this.encoder.encode(segment));
    this.segmentCount++;
  }

  /** Records the next chunk of the archive with its blocks. Throws INTERNAL for reused blocks without a previous index. */
  addChunk(chunk: NewChunkBlocks): void {
    let blocks: number;
    if ("from" in chunk) {
      if (!this.previous) throw new Error("reused blocks without the last archive's index");
      blocks = this.previous.blockCountOf(chunk.from);
      if (this.reuse.count > 0 && this.reuse.from + this.reuse.count === chunk.from) this.reuse.count++;
      else {
        this.copyReused();
        this.reuse = { from: chunk.from, count: 1 };
      }
    } else {
      this.copyReused();
      blocks = chunk.lengths.length;
      this.blocks.append(encodeBlockRecords(chunk.lengths, chunk.keys));
    }
    encodeChunkRecord(this.record, 0, { id: chunk.id, rawLength: chunk.rawLength, blocks, start: this.start, firstBlock: this.blockCount });
    this.chunks.append(this.record);
    this.ids.add(chunk.id, this.chunkCount);
    this.chunkCount++;
    this.blockCount += blocks;
    this.start += chunk.rawLength;
  }

  /**
   * The ids of the chunks recorded, in archive order, read from the chunks file: views, valid until
   * the next step. Callable once finish resolved (the chunks file is complete as soon as finish is
   * called, before its first await). Throws Error before finish, fs errors, and RangeError when
   * the chunks file is not the one written.
   */
  *chunkIds(): Generator<Uint8Array> {
    if (this.archiveId === null) throw new Error("chunk ids asked for before the index is finished");
    const file = IndexFile.open(join(this.dir, "chunks"), "chunks", this.archiveId, CHUNK_RECORD_BYTES);
    if (!file || file.header.count !== this.chunkCount) {
      file?.close();
      throw new RangeError("the new source index's chunks file is missing or not the one written");
    }
    try {
      const next = file.sequential();
      for (let c = 0; c < this.chunkCount; c++) yield next(CHUNK_RECORD_BYTES)!.subarray(0, 32);
    } finally {
      file.close();
    }
  }

  /**
   * Writes what is left (the ids file, merged from the sorted runs, whose files it removes; the
   * headers naming archive `archiveId`) and fsyncs every file and the folder. Throws fs errors.
   */
  async finish(archiveId: string): Promise<void> {
    this.copyReused();
    this.archiveId = archiveId;
    const ids = new IndexFileWriter(join(this.dir, "ids"), "ids");
    this.idsFile = ids;
    const distinct = this.ids.mergeInto((record) => ids.append(record));
    const files: [IndexFileWriter, number][] = [
      [this.chunks, this.chunkCount],
      [this.blocks, this.blockCount],
      [this.segments, this.segmentCount],
      [ids, distinct],
    ];
    for (const [file, count] of files) await file.finish(archiveId, count);
    await fsyncDir(this.dir);
  }

  /** Closes and removes the folder; never throws. */
  abandon(): void {
    for (const file of [this.chunks, this.blocks, this.segments, this.idsFile]) file?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private copyReused(): void {
    if (this.reuse.count === 0) return;
    this.previous!.copyBlocks(this.reuse.from, this.reuse.count, this.blocks);
    this.reuse = { from: 0, count: 0 };
  }
}
