// Streams walked entries as a deterministic tar through the chunker into one gzip member per chunk.
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { HashRelayError } from "../errors.ts";
import { MANIFEST_ENTRY_BYTES, MAX_CHUNKS_PER_ARCHIVE } from "../protocol/constants.ts";
import { Chunker, type ChunkerOptions } from "../archive/chunker.ts";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { ArchiveIdHasher, chunkIdHex, type ManifestEntry } from "../archive/manifest.ts";
import { StreamMap, type Segment } from "../archive/stream-map.ts";
import { TAR_TRAILER, encodeTarHeader, tarPadding, type TarEntry } from "../archive/tar.ts";
import { deflateRaw } from "../io/compress.ts";
import { sourceError } from "./tree-walk.ts";

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
}

export interface BuildOptions {
  /** Called once per chunk, in order; the build waits for it (backpressure). Whatever it throws ends the build. */
  onChunk(chunk: BuiltChunk): Promise<void> | void;
  /** false: do not compress (the client compresses only the chunks the server needs); default true. */
  compress?: boolean;
  /** One key per entry (same order) that changes whenever the entry's tar bytes may; enables `previous` and `segments`. */
  keys?: readonly string[];
  /** The last archive's segments and chunks: stretches of unchanged entries are not read again (compress: false only). */
  previous?: { segments: readonly Segment[]; chunks: readonly ManifestEntry[] };
  /** Chunker bounds; defaults to the protocol's CHUNK_MIN/AVG/MAX. */
  chunker?: ChunkerOptions;
}

export interface ArchiveSummary {
  /** Number of chunks (= gzip members = manifest entries). */
  chunks: number;
  /** The manifest: `chunks` records of 36 bytes (id | u32 BE rawLength), as encodeManifestEntries writes them. */
  manifest: Uint8Array;
  archiveId: string;
  /** Length of the uncompressed tar stream. */
  rawSize: number;
  /** Length of the .tar.gz: the sum of the member lengths (when compressed). */
  fileSize?: number;
  /** Hex SHA-256 of the .tar.gz, all members concatenated (when compressed). */
  fileSha256?: string;
  /** Files that changed size while being read, one line each. */
  warnings: string[];
  /** The tar stream as segments (one per entry, then the trailer), for the next build's `previous`. */
  segments: Segment[];
  /** Bytes of the tar stream actually read and chunked (the rest was known from `previous`). */
  bytesRead: number;
}

const TRAILER_PATH = "\u0000trailer";

/** What the builder needs from a walked entry: its tar metadata and, for files, where to read it. */
export type BuildEntry = TarEntry & { absPath: string };

/**
 * Writes the tar stream of `entries` (in the order given: pass them sorted, as walkSource
 * returns them) — per entry its header, then for files `size` bytes of content and padding —
 * then the trailer, chunked and compressed as it goes.
 *
 * A file is read through a 1 MiB buffer, never whole, and exactly `size` bytes (its size at
 * walk time) are archived: one that shrank is padded with zeros, one that grew is cut; both
 * add a warning. Memory bound, whatever the file sizes: the read buffer (1 MiB), the chunker's
 * pending and scratch bytes (2 x CHUNK_MAX; chunks are views into these and the read buffer, not
 * copies), one member being handed over (~CHUNK_MAX), i.e. about 1 MiB + 3 x CHUNK_MAX = 1.75 MiB
 * with the default bounds; plus what onChunk keeps, plus the manifest at 36 bytes per chunk (about
 * 0.6 MB per GiB of tar at the 64 KiB average chunk).
 *
 * Throws SOURCE naming the file when one cannot be opened or read or is no longer a regular
 * file, or when the archive would exceed MAX_CHUNKS_PER_ARCHIVE chunks; rethrows onChunk's errors.
 */
export async function buildArchive(entries: readonly BuildEntry[], opts: BuildOptions): Promise<ArchiveSummary> {
  const compress = opts.compress ?? true;
  if (opts.previous && compress) throw new HashRelayError("INTERNAL", "buildArchive: previous needs compress: false");
  const recorder = new ChunkRecorder(opts.onChunk, compress);
  const { segments, starts, total } = tarSegments(entries, opts.keys);
  const map = opts.previous && opts.keys ? new StreamMap(opts.previous.segments, opts.previous.chunks, segments) : null;
  const stream = new ChunkedStream(recorder, map, opts.chunker);
  const warnings: string[] = [];
  const buffer = new Uint8Array(READ_BUFFER_BYTES);
  let position = 0;
  if (await stream.fastForward()) position = stream.jumpTo!;
  while (position < total) {
    stream.jumpTo = null;
    const k = segmentAt(starts, position);
    await produceSegment(entries[k], position - starts[k]!, stream.write, stream.stopped, buffer, warnings);
    position = stream.jumpTo ?? starts[k]! + segments[k]!.length;
  }
  await stream.finish();
  return recorder.summary(warnings, segments, stream.bytesRead);
}

/** The stream as segments: header + content + padding per entry, then the trailer; with each one's start. */
function tarSegments(entries: readonly BuildEntry[], keys: readonly string[] | undefined) {
  const segments: Segment[] = entries.map((entry, k) => {
    const content = entry.type === "file" ? entry.size + tarPadding(entry.size) : 0;
    return { path: entry.path, key: keys?.[k] ?? "", length: encodeTarHeader(entry).length + content };
  });
  segments.push({ path: TRAILER_PATH, key: "trailer", length: TAR_TRAILER.length });
  const starts: number[] = [];
  let total = 0;
  for (const seg of segments) {
    starts.push(total);
    total += seg.length;
  }
  return { segments, starts, total };
}

/** Records chunks in order: the manifest, the archive id, the file's hash and sizes; hands each to onChunk. */
class ChunkRecorder {
  private manifest = new Uint8Array(64 * MANIFEST_ENTRY_BYTES);
  private readonly ids = new ArchiveIdHasher();
  private readonly fileHash = createHash("sha256");
  private chunks = 0;
  private rawSize = 0;
  private fileSize = 0;

  constructor(
    private readonly onChunk: BuildOptions["onChunk"],
    readonly compress: boolean,
  ) {}

  /** Records the next chunk (`raw` null: taken from the last archive unread). Throws SOURCE past MAX_CHUNKS_PER_ARCHIVE. */
  async record(id: Uint8Array, rawLength: number, raw: Uint8Array | null, member: Uint8Array | null): Promise<void> {
    if (this.chunks >= MAX_CHUNKS_PER_ARCHIVE) {
      throw new HashRelayError("SOURCE", `archive would exceed ${MAX_CHUNKS_PER_ARCHIVE} chunks`, "split the source into smaller ones");
    }
    if ((this.chunks + 1) * MANIFEST_ENTRY_BYTES > this.manifest.length) {
      const grown = new Uint8Array(this.manifest.length * 2);
      grown.set(this.manifest);
      this.manifest = grown;
    }
    const at = this.chunks * MANIFEST_ENTRY_BYTES;
    this.manifest.set(id, at);
    new DataView(this.manifest.buffer).setUint32(at + 32, rawLength);
    this.ids.addEncoded(this.manifest.subarray(at, at + MANIFEST_ENTRY_BYTES));
    if (member) this.fileHash.update(member);
    this.rawSize += rawLength;
    this.fileSize += member?.length ?? 0;
    const index = this.chunks++;
    await this.onChunk({ index, id, idHex: chunkIdHex(id), rawLength, raw, member });
  }

  summary(warnings: string[], segments: Segment[], bytesRead: number): ArchiveSummary {
    return {
      chunks: this.chunks,
      manifest: this.manifest.slice(0, this.chunks * MANIFEST_ENTRY_BYTES),
      archiveId: this.ids.digest(),
      rawSize: this.rawSize,
      fileSize: this.compress ? this.fileSize : undefined,
      fileSha256: this.compress ? this.fileHash.digest("hex") : undefined,
      warnings,
      segments,
      bytesRead,
    };
  }
}

/**
 * The tar stream going through the chunker. Where the chunker stands fresh at a boundary the last
 * archive also had (`map`), that archive's chunks are taken as they are and the stream jumps ahead.
 */
class ChunkedStream {
  private chunker: Chunker;
  private chunkStart = 0;
  /** Where the stream goes on after a jump; null while bytes are read in order. */
  jumpTo: number | null = null;
  /** Bytes of the tar stream actually read and chunked. */
  bytesRead = 0;

  constructor(
    private readonly recorder: ChunkRecorder,
    private readonly map: StreamMap | null,
    private readonly chunkerOptions: ChunkerOptions | undefined,
  ) {
    this.chunker = new Chunker(chunkerOptions);
  }

  /** Feeds the next bytes of the stream; ignores them once a jump is pending. */
  readonly write = async (bytes: Uint8Array): Promise<void> => {
    if (this.jumpTo !== null) return;
    this.bytesRead += bytes.length;
    for (const raw of this.chunker.pushViews(bytes)) {
      await this.emit(raw);
      this.chunkStart += raw.length;
      if (await this.fastForward()) return;
    }
  };

  /** Whether the segment being produced may stop: the stream jumps ahead. */
  readonly stopped = (): boolean => this.jumpTo !== null;

  /** Takes the last archive's chunks from here on, if it had a boundary here; true when it jumped. */
  async fastForward(): Promise<boolean> {
    const ff = this.map?.fastForward(this.chunkStart);
    if (!ff) return false;
    for (const chunk of ff.chunks) await this.recorder.record(chunk.id, chunk.rawLength, null, null);
    this.chunker = new Chunker(this.chunkerOptions);
    this.chunkStart = this.jumpTo = ff.endNew;
    return true;
  }

  /** Cuts the last chunk from what the chunker still holds. */
  async finish(): Promise<void> {
    const last = this.chunker.finish();
    if (last) await this.emit(last);
  }

  private async emit(raw: Uint8Array): Promise<void> {
    const id = new Uint8Array(createHash("sha256").update(raw).digest());
    await this.recorder.record(id, raw.length, raw, this.recorder.compress ? encodeGzipMember(raw, deflateRaw) : null);
  }
}

function segmentAt(starts: readonly number[], position: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= position) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Writes the bytes of one segment from `within` on (the trailer when `entry` is undefined); stops early when `stopped()`. */
async function produceSegment(
  entry: BuildEntry | undefined,
  within: number,
  write: (bytes: Uint8Array) => Promise<void>,
  stopped: () => boolean,
  buffer: Uint8Array,
  warnings: string[],
): Promise<void> {
  if (!entry) {
    await write(TAR_TRAILER.subarray(within));
    return;
  }
  const header = encodeTarHeader(entry);
  if (entry.type !== "file") {
    await write(header.subarray(within));
    return;
  }
  const fd = openRegularFile(entry.absPath);
  try {
    if (within < header.length) await write(header.subarray(within));
    if (stopped()) return;
    const from = Math.max(0, within - header.length);
    if (from < entry.size) await copyContent(fd, entry, buffer, write, warnings, from, stopped);
  } finally {
    closeSync(fd);
  }
  if (stopped()) return;
  const padding = tarPadding(entry.size);
  const padFrom = Math.max(0, within - header.length - entry.size);
  if (padding > padFrom) await write(TAR_TRAILER.subarray(0, padding - padFrom));
}

/**
 * Opens without following a symlink and checks it is still a regular file; throws SOURCE naming it.
 * Files are opened and read with synchronous calls: a read from the page cache takes microseconds, and
 * four thread-pool round trips per file (open, stat, read, close) cost more than the reading itself
 * on a tree of 20,000 small files.
 */
function openRegularFile(absPath: string): number {
  let fd: number;
  try {
    fd = openSync(absPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") {
      throw new HashRelayError("SOURCE", `${absPath} vanished while being archived`, "the next run will try again", { cause: err });
    }
    if (code === "ELOOP") {
      throw new HashRelayError("SOURCE", `${absPath} was replaced by a symlink while being archived`, "the next run will try again", {
        cause: err,
      });
    }
    throw sourceError(absPath, err);
  }
  let regular: boolean;
  try {
    regular = fstatSync(fd).isFile();
  } catch (err) {
    closeSync(fd);
    throw sourceError(absPath, err);
  }
  if (!regular) {
    closeSync(fd);
    throw new HashRelayError("SOURCE", `${absPath} is no longer a regular file`, "the next run will try again");
  }
  return fd;
}

/** Writes exactly entry.size bytes of the file: zeros for what is missing, nothing past the size. */
async function copyContent(
  fd: number,
  entry: BuildEntry,
  buffer: Uint8Array,
  write: (bytes: Uint8Array) => Promise<void>,
  warnings: string[],
  from = 0,
  stopped: () => boolean = () => false,
): Promise<void> {
  let done = from;
  while (done < entry.size) {
    if (stopped()) return;
    const want = Math.min(buffer.length, entry.size - done);
    let got: number;
    try {
      got = readSync(fd, buffer, 0, want, done);
    } catch (err) {
      throw sourceError(entry.absPath, err);
    }
    if (got === 0) break;
    await write(buffer.subarray(0, got));
    done += got;
  }
  if (done < entry.size) {
    warnings.push(`${entry.absPath} shrank from ${entry.size} to ${done} bytes while being archived; padded with zeros`);
    buffer.fill(0);
    while (done < entry.size) {
      const n = Math.min(buffer.length, entry.size - done);
      await write(buffer.subarray(0, n));
      done += n;
    }
    return;
  }
  let more = 0;
  try {
    more = readSync(fd, buffer, 0, 1, done);
  } catch {
    // a file that cannot be read one byte further did not grow as far as we can tell
  }
  if (more > 0) {
    warnings.push(`${entry.absPath} grew while being archived; cut at ${entry.size} bytes`);
  }
}
