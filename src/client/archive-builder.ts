// Streams walked entries as a deterministic tar through the chunker into chunks (one gzip member each), taking unchanged stretches from the last archive unread.
import { createHash } from "node:crypto";
import { HashRelayError } from "../errors.ts";
import { MAX_CHUNKS_PER_ARCHIVE } from "../protocol/constants.ts";
import { Chunker, type ChunkerOptions } from "../archive/chunker.ts";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { ArchiveIdHasher, chunkIdHex } from "../archive/manifest.ts";
import { fastForward, oldPositionOf, SegmentPlacer, type OldChunks, type Segment, type SegmentCursor } from "../archive/stream-map.ts";
import type { OldHeader } from "../archive/old-headers.ts";
import { TAR_BLOCK, tarHeaderLength } from "../archive/tar.ts";
import { deflateRaw } from "../io/compress.ts";
import { SegmentHolder, type EntrySource, type HeldSegment } from "./segment-holder.ts";
import { produceSegment, type BuildEntry } from "./tar-content.ts";

/** File contents are read in blocks of this size into one reused buffer. */
export const READ_BUFFER_BYTES = 1024 * 1024;

export interface BuiltChunk {
  /** Position in the manifest, from 0. */
  index: number;
  /** SHA-256 of the raw chunk. */
  id: Uint8Array;
  idHex: string;
  rawLength: number;
  /**
   * The raw chunk, a view into the builder's buffers valid until onChunk's promise settles (copy it to
   * keep it); null for a chunk of the previous archive that was not read again.
   */
  raw: Uint8Array | null;
  /** The gzip member (header, raw deflate, CRC32, ISIZE); the archive file is all members in order. Null when built with compress: false. */
  member: Uint8Array | null;
  /** A chunk of the previous archive taken unread: its index there; else null. */
  reused: number | null;
  /**
   * A chunk read while `previous` is given: the stretch [lo, hi] of the previous archive's stream its
   * bytes come from, or would have (an entry new since stands where it would have been); else null.
   */
  oldSpan: { lo: number; hi: number } | null;
  /** A chunk read while `previous` is given: the headers it holds whole of entries whose size or mtime moved since. */
  oldHeaders?: readonly OldHeader[];
}

/** The last archive's stream, as its source index gives it: segments front to back, chunks by index. */
export interface PreviousStream {
  segments: SegmentCursor;
  chunks: OldChunks & { id(index: number): Uint8Array };
}

export interface BuildOptions<E extends BuildEntry = BuildEntry> {
  /** Called once per chunk, in order; the build waits for it (backpressure). Whatever it throws ends the build. */
  onChunk(chunk: BuiltChunk): Promise<void> | void;
  /** false: do not compress (the client compresses only the chunks the server needs); default true. */
  compress?: boolean;
  /** An entry's segment key (archive/stream-map.ts): changes whenever its tar bytes may. Needed by `previous` and `onSegment`. */
  keyOf?: (entry: E) => Uint8Array;
  /** The last archive's stream: stretches of unchanged entries are not read again (compress: false only). */
  previous?: PreviousStream;
  /** Called with every entry's segment, in order: what the next build's `previous` is made of. */
  onSegment?: (segment: Segment) => void;
  /** Chunker bounds; defaults to the protocol's CHUNK_MIN/AVG/MAX. */
  chunker?: ChunkerOptions;
}

export interface ArchiveSummary {
  /** Number of chunks (= gzip members = manifest entries). */
  chunks: number;
  archiveId: string;
  /** Length of the uncompressed tar stream. */
  rawSize: number;
  /** Length of the .tar.gz: the sum of the member lengths (when compressed). */
  fileSize?: number;
  /** Hex SHA-256 of the .tar.gz, all members concatenated (when compressed). */
  fileSha256?: string;
  /** Files that changed size while being read, one line each. */
  warnings: string[];
  /** Bytes of the tar stream actually read and chunked (the rest was taken from `previous`). */
  bytesRead: number;
}

export type { BuildEntry } from "./tar-content.ts";
export { entrySourceOf, type EntrySource } from "./segment-holder.ts";

/**
 * Writes the tar stream of `entries` (in the order given: sorted, as a TreeWalk gives them) — per
 * entry its header, then for files `size` bytes of content and padding — then the trailer, chunked
 * and compressed as it goes.
 *
 * A file is read through a 1 MiB buffer, never whole, and exactly `size` bytes (its size at
 * walk time) are archived: one that shrank is padded with zeros, one that grew is cut; both
 * add a warning. Memory bound, whatever the source: the read buffer (1 MiB), the chunker's
 * pending and scratch bytes (2 x CHUNK_MAX; chunks are views into these and the read buffer, not
 * copies), one member being handed over (~CHUNK_MAX), i.e. about 1 MiB + 3 x CHUNK_MAX = 1.75 MiB
 * with the default bounds, and the entries held between the position and a fast-forward's look
 * ahead (segment-holder.ts); plus what onChunk keeps.
 *
 * Throws SOURCE naming the file when one cannot be opened or read or is no longer a regular
 * file, or when the archive would exceed MAX_CHUNKS_PER_ARCHIVE chunks; rethrows onChunk's and
 * `entries`' errors.
 */
export async function buildArchive<E extends BuildEntry>(entries: EntrySource<E>, opts: BuildOptions<E>): Promise<ArchiveSummary> {
  const compress = opts.compress ?? true;
  if (opts.previous && (compress || !opts.keyOf))
    throw new HashRelayError("INTERNAL", "buildArchive: previous needs compress: false and keyOf");
  const recorder = new ChunkRecorder(opts.onChunk, compress);
  const placer = opts.previous ? new SegmentPlacer(opts.previous.segments) : null;
  const holder = new SegmentHolder(entries, placer, opts.keyOf, opts.onSegment);
  const stream = new ChunkedStream(recorder, holder, opts.previous?.chunks ?? null, opts.chunker);
  const warnings: string[] = [];
  const buffer = new Uint8Array(READ_BUFFER_BYTES);
  await stream.fastForward();
  for (let segment = await holder.holding(stream.position); segment; segment = await holder.holding(stream.position)) {
    stream.produce(segment);
    await produceSegment(segment.entry, stream.position - segment.start, stream.write, stream.stopped, buffer, warnings);
    if (!stream.jumped) stream.position = segment.start + segment.length;
  }
  await stream.finish();
  return recorder.summary(warnings, stream.bytesRead);
}

/** Records chunks in order: the archive id, the file's hash and sizes; hands each to onChunk. */
class ChunkRecorder {
  private readonly ids = new ArchiveIdHasher();
  private readonly fileHash = createHash("sha256");
  private readonly entry = new Uint8Array(36);
  private readonly entryView = new DataView(this.entry.buffer);
  private chunks = 0;
  private rawSize = 0;
  private fileSize = 0;

  constructor(
    private readonly onChunk: BuildOptions["onChunk"],
    readonly compress: boolean,
  ) {}

  /** Records the next chunk. Throws SOURCE past MAX_CHUNKS_PER_ARCHIVE. */
  async record(chunk: Omit<BuiltChunk, "index" | "idHex">): Promise<void> {
    if (this.chunks >= MAX_CHUNKS_PER_ARCHIVE) {
      throw new HashRelayError("SOURCE", `archive would exceed ${MAX_CHUNKS_PER_ARCHIVE} chunks`, "split the source into smaller ones");
    }
    this.entry.set(chunk.id);
    this.entryView.setUint32(32, chunk.rawLength);
    this.ids.addEncoded(this.entry);
    if (chunk.member) this.fileHash.update(chunk.member);
    this.rawSize += chunk.rawLength;
    this.fileSize += chunk.member?.length ?? 0;
    const index = this.chunks++;
    // the hex id is made only when asked for: most chunks of an unchanged stretch never are
    await this.onChunk({
      ...chunk,
      index,
      get idHex() {
        return chunkIdHex(chunk.id);
      },
    });
  }

  summary(warnings: string[], bytesRead: number): ArchiveSummary {
    return {
      chunks: this.chunks,
      archiveId: this.ids.digest(),
      rawSize: this.rawSize,
      fileSize: this.compress ? this.fileSize : undefined,
      fileSha256: this.compress ? this.fileHash.digest("hex") : undefined,
      warnings,
      bytesRead,
    };
  }
}

/** What the stream asks of the segment holder. */
type HeldSegments = Pick<SegmentHolder<BuildEntry>, "segment" | "holding" | "release">;

/**
 * The tar stream going through the chunker. Where the chunker stands fresh at a boundary the last
 * archive also had (stream-map.ts fastForward), that archive's chunks are taken as they are and the
 * stream jumps ahead. With a last archive, each chunk read carries the stretch of the old stream it
 * corresponds to (the first and last of its bytes, placed: placements only grow along the stream).
 */
class ChunkedStream {
  private readonly chunker: Chunker;
  private chunkStart = 0;
  /** Where the segment being produced (or the next one) starts being written. */
  position = 0;
  /** Set when the stream jumped ahead while a segment was being produced: its production stops. */
  jumped = false;
  /** Bytes of the tar stream actually read and chunked. */
  bytesRead = 0;
  private segment: HeldSegment | null = null;
  private fed = 0;
  /** Old stream position of the current chunk's first byte; null until its first byte is written. */
  private spanLo: number | null = null;
  /** Stream positions of the headers still ahead of the chunk start whose entry's size or mtime moved, with the old ones. */
  private oldHeaders: OldHeader[] = [];

  constructor(
    private readonly recorder: ChunkRecorder,
    private readonly holder: HeldSegments,
    private readonly oldChunks: PreviousStream["chunks"] | null,
    chunkerOptions: ChunkerOptions | undefined,
  ) {
    this.chunker = new Chunker(chunkerOptions);
  }

  /** `segment` is being written from `position` on. */
  produce(segment: HeldSegment): void {
    this.segment = segment;
    this.fed = this.position;
    this.jumped = false;
    const old = segment.placement.oldHeader;
    if (old && segment.entry && this.position === segment.start)
      this.oldHeaders.push({ at: segment.start + tarHeaderLength(segment.entry) - TAR_BLOCK, size: old.size, mtime: old.mtime });
  }

  /** Feeds the next bytes of the segment being produced; ignores them once the stream jumped. */
  readonly write = async (bytes: Uint8Array): Promise<void> => {
    if (this.jumped) return;
    this.spanLo ??= this.placed(this.fed);
    this.fed += bytes.length;
    this.bytesRead += bytes.length;
    for (const raw of this.chunker.pushViews(bytes)) {
      const end = this.chunkStart + raw.length;
      await this.emit(raw, this.placed(end));
      this.chunkStart = end;
      if (await this.fastForward()) return;
    }
  };

  /** Whether the segment being produced may stop: the stream jumped ahead. */
  readonly stopped = (): boolean => this.jumped;

  /** Takes the last archive's chunks from the chunk start on, if it had a boundary there; true when it jumped. */
  async fastForward(): Promise<boolean> {
    if (!this.oldChunks) return false;
    const p = this.chunkStart;
    const holding = await this.holder.holding(p);
    if (!holding) return false;
    const chunks = this.oldChunks;
    const endNew = await fastForward(p, holding, this.holder, chunks, async (index, after) => {
      await this.recorder.record({
        id: chunks.id(index),
        rawLength: chunks.rawLength(index),
        raw: null,
        member: null,
        reused: index,
        oldSpan: null,
      });
      this.holder.release(after);
    });
    if (endNew === null) return false;
    // the chunker stands fresh at the new position: reset, not made again (fast forwards happen once per change)
    this.chunker.reset();
    this.chunkStart = this.position = endNew;
    this.spanLo = null;
    this.jumped = true;
    return true;
  }

  /** Cuts the last chunk from what the chunker still holds. */
  async finish(): Promise<void> {
    const last = this.chunker.finish();
    if (last) await this.emit(last, this.placed(this.fed));
  }

  /** The old stream position of new position `p` inside the segment being produced (0 without a last archive). */
  private placed(p: number): number {
    return this.oldChunks && this.segment ? oldPositionOf(this.segment.placement, p - this.segment.start) : 0;
  }

  private async emit(raw: Uint8Array, hi: number): Promise<void> {
    const id = new Uint8Array(createHash("sha256").update(raw).digest());
    const oldSpan = this.oldChunks ? { lo: this.spanLo ?? hi, hi } : null;
    this.spanLo = hi;
    const member = this.recorder.compress ? encodeGzipMember(raw, deflateRaw) : null;
    await this.recorder.record({ id, rawLength: raw.length, raw, member, reused: null, oldSpan, oldHeaders: this.headersIn(raw.length) });
  }

  /** The old headers lying whole in the chunk of `length` bytes at the chunk start, at their offsets in it; forgets them and those cut by its end. */
  private headersIn(length: number): OldHeader[] | undefined {
    if (this.oldHeaders.length === 0) return undefined;
    const start = this.chunkStart;
    const end = start + length;
    const inside = this.oldHeaders.filter((h) => h.at >= start && h.at + TAR_BLOCK <= end).map((h) => ({ ...h, at: h.at - start }));
    this.oldHeaders = this.oldHeaders.filter((h) => h.at >= end);
    return inside.length > 0 ? inside : undefined;
  }
}
