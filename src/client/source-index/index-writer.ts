// Writes the source index of the archive being built, beside the current one, as its segments and chunks go by.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ChunkBlocks } from "../../archive/chunk-delta.ts";
import {
  CHUNK_RECORD_BYTES,
  ID_RECORD_BYTES,
  SegmentEncoder,
  encodeBlockRecords,
  encodeChunkRecord,
  encodeIdRecord,
} from "../../archive/source-index-records.ts";
import type { Segment } from "../../archive/stream-map.ts";
import { fsyncDir } from "../../io/atomic-file.ts";
import { IndexFileWriter } from "./index-files.ts";
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
 * Memory: the write buffers, and 32 bytes per chunk for the ids file, which is sorted when the
 * archive is complete (1.1 MB for the 34,929 chunks of a 3.2 GiB source; the array doubles). Nothing refers to the folder
 * until the client's record of the source does (after the receipt); `abandon` removes it.
 */
export class SourceIndexWriter {
  private readonly chunks: IndexFileWriter;
  private readonly blocks: IndexFileWriter;
  private readonly segments: IndexFileWriter;
  private readonly encoder = new SegmentEncoder();
  private readonly record = new Uint8Array(CHUNK_RECORD_BYTES);
  private ids = new Uint8Array(32 * 1024);
  private chunkCount = 0;
  private segmentCount = 0;
  private blockCount = 0;
  private start = 0;
  /** Chunks of the last archive whose blocks are still to be copied: from, count. */
  private reuse = { from: 0, count: 0 };

  /** Creates folder `dir` (0700, which must not exist) and its files. `previous`: the index reused chunks come from. Throws fs errors. */
  constructor(
    readonly dir: string,
    private readonly previous: SourceIndex | null,
  ) {
    mkdirSync(dir, { mode: 0o700 });
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
    this.keepId(chunk.id);
    this.chunkCount++;
    this.blockCount += blocks;
    this.start += chunk.rawLength;
  }

  /** The ids of the chunks recorded, in archive order (views, valid until the next addChunk). */
  *chunkIds(): Generator<Uint8Array> {
    for (let c = 0; c < this.chunkCount; c++) yield this.ids.subarray(32 * c, 32 * c + 32);
  }

  /** Writes what is left (the ids file, the headers naming archive `archiveId`) and fsyncs every file and the folder. Throws fs errors. */
  async finish(archiveId: string): Promise<void> {
    this.copyReused();
    const ids = new IndexFileWriter(join(this.dir, "ids"), "ids");
    const distinct = this.writeIds(ids);
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
    for (const file of [this.chunks, this.blocks, this.segments]) file.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private copyReused(): void {
    if (this.reuse.count === 0) return;
    this.previous!.copyBlocks(this.reuse.from, this.reuse.count, this.blocks);
    this.reuse = { from: 0, count: 0 };
  }

  private keepId(id: Uint8Array): void {
    if (32 * (this.chunkCount + 1) > this.ids.length) {
      const grown = new Uint8Array(this.ids.length * 2);
      grown.set(this.ids);
      this.ids = grown;
    }
    this.ids.set(id, 32 * this.chunkCount);
  }

  /** Writes one record per distinct id, ascending, with the index of its first chunk; returns how many. */
  private writeIds(out: IndexFileWriter): number {
    const ids = this.ids;
    const order = new Uint32Array(this.chunkCount);
    for (let c = 0; c < order.length; c++) order[c] = c;
    order.sort((a, b) => {
      for (let i = 0; i < 32; i++) {
        const d = ids[32 * a + i]! - ids[32 * b + i]!;
        if (d !== 0) return d;
      }
      return a - b;
    });
    const record = new Uint8Array(ID_RECORD_BYTES);
    let distinct = 0;
    let last = -1;
    for (const c of order) {
      if (last >= 0 && sameId(ids, last, c)) continue;
      encodeIdRecord(record, 0, ids.subarray(32 * c, 32 * c + 32), c);
      out.append(record);
      last = c;
      distinct++;
    }
    return distinct;
  }
}

function sameId(ids: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < 32; i++) if (ids[32 * a + i] !== ids[32 * b + i]) return false;
  return true;
}
