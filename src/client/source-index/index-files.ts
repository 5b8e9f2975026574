// Reading and writing the source index's files by range: a few cached pages, one read buffer, one write buffer.
import { closeSync, fstatSync, fsync, openSync, readSync, writeSync } from "node:fs";
import { promisify } from "node:util";
import {
  INDEX_HEADER_BYTES,
  decodeIndexHeader,
  encodeIndexHeader,
  type IndexFileKind,
  type IndexHeader,
  type RecordReader,
} from "../../archive/source-index-records.ts";

const fsyncFd = promisify(fsync);

/** One open index file: its header (checked) and the bytes after it, read by range. */
export class IndexFile {
  private readonly pages = new Map<number, { bytes: Uint8Array; view: DataView }>();

  private constructor(
    private readonly fd: number,
    readonly header: IndexHeader,
    /** Bytes of records after the header. */
    readonly size: number,
    private readonly pageBytes: number,
    private readonly maxPages: number,
  ) {}

  /**
   * Opens `path` as a `kind` file of archive `archiveId`, or returns null (closing it) when it is
   * missing, of another kind, version or archive, or not `recordBytes` x count long (0: any length).
   * Keeps up to `maxPages` pages of `pageBytes` in memory for `bytes`.
   */
  static open(
    path: string,
    kind: IndexFileKind,
    archiveId: string,
    recordBytes: number,
    pageBytes = 64 * 1024,
    maxPages = 8,
  ): IndexFile | null {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch {
      return null;
    }
    try {
      const head = new Uint8Array(INDEX_HEADER_BYTES);
      const got = readSync(fd, head, 0, head.length, 0);
      const header = got === head.length ? decodeIndexHeader(head, kind) : null;
      const size = fstatSync(fd).size - INDEX_HEADER_BYTES;
      if (header && header.archiveId === archiveId && (recordBytes === 0 || size === header.count * recordBytes)) {
        return new IndexFile(fd, header, size, pageBytes, maxPages);
      }
    } catch {
      // an unreadable file is no index
    }
    closeSync(fd);
    return null;
  }

  /** The `length` record bytes at `offset` (after the header): a view into a cached page, valid until the next call, or a copy. */
  bytes(offset: number, length: number): Uint8Array {
    const first = Math.floor(offset / this.pageBytes);
    const last = Math.floor((offset + length - 1) / this.pageBytes);
    if (first === last) return this.page(first).bytes.subarray(offset - first * this.pageBytes, offset - first * this.pageBytes + length);
    const out = new Uint8Array(length);
    this.readInto(out, offset);
    return out;
  }

  /** The big-endian u32 at record offset `offset`. */
  u32(offset: number): number {
    const index = Math.floor(offset / this.pageBytes);
    const within = offset - index * this.pageBytes;
    if (within + 4 <= this.pageBytes) return this.page(index).view.getUint32(within);
    const b = this.bytes(offset, 4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }

  /** The u64 at record offset `offset`, written as two big-endian u32 (below 2^53). */
  u64(offset: number): number {
    return this.u32(offset) * 2 ** 32 + this.u32(offset + 4);
  }

  /** Reads record bytes from `offset` into `into` (fewer at the end of the file); returns how many. */
  readInto(into: Uint8Array, offset: number): number {
    let done = 0;
    while (done < into.length) {
      const got = readSync(this.fd, into, done, into.length - done, INDEX_HEADER_BYTES + offset + done);
      if (got === 0) break;
      done += got;
    }
    return done;
  }

  /** Whether the records hash to the header's SHA-256 (one pass through one buffer). */
  intact(): boolean {
    const hash = new Bun.CryptoHasher("sha256");
    const buffer = new Uint8Array(256 * 1024);
    for (let at = 0; at < this.size; ) {
      const got = this.readInto(buffer.subarray(0, Math.min(buffer.length, this.size - at)), at);
      if (got === 0) return false;
      hash.update(buffer.subarray(0, got));
      at += got;
    }
    return equalBytes(new Uint8Array(hash.digest()), this.header.recordsSha256);
  }

  /** A reader of the records from the first on, with its own buffer: each call gives a view of the next n bytes, or null at the end. */
  sequential(bufferBytes = 256 * 1024): (n: number) => Uint8Array | null {
    const stream = this.stream(bufferBytes);
    return (n) => {
      const at = stream.take(n);
      return at < 0 ? null : stream.bytes.subarray(at, at + n);
    };
  }

  /** The records from the first on, through one buffer of `bufferBytes` (grown for a longer read), without a view per read. */
  stream(bufferBytes = 256 * 1024): RecordReader {
    return new RecordStream(this, bufferBytes);
  }

  close(): void {
    closeSync(this.fd);
    this.pages.clear();
  }

  private page(index: number): { bytes: Uint8Array; view: DataView } {
    const cached = this.pages.get(index);
    if (cached) {
      if (this.pages.size > 1) {
        this.pages.delete(index);
        this.pages.set(index, cached);
      }
      return cached;
    }
    const bytes = new Uint8Array(Math.max(0, Math.min(this.pageBytes, this.size - index * this.pageBytes)));
    this.readInto(bytes, index * this.pageBytes);
    if (this.pages.size >= this.maxPages) this.pages.delete(this.pages.keys().next().value!);
    const page = { bytes, view: new DataView(bytes.buffer) };
    this.pages.set(index, page);
    return page;
  }
}

/** An index file being written: records appended through one buffer and hashed, the header written last. */
export class IndexFileWriter {
  private readonly buffer = new Uint8Array(256 * 1024);
  private used = 0;
  private written = 0;
  private readonly hash = new Bun.CryptoHasher("sha256");
  private readonly fd: number;
  private closed = false;

  /** Creates `path` (0600, which must not exist) with room for the header. Throws fs errors. */
  constructor(
    readonly path: string,
    readonly kind: IndexFileKind,
  ) {
    this.fd = openSync(path, "wx", 0o600);
  }

  /** Appends record bytes. Throws fs errors. */
  append(bytes: Uint8Array): void {
    if (this.used + bytes.length > this.buffer.length) this.flush();
    if (bytes.length > this.buffer.length) {
      this.writeOut(bytes);
      return;
    }
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** Writes what is buffered, then the header of `count` records of archive `archiveId`; fsyncs and closes. Throws fs errors. */
  async finish(archiveId: string, count: number): Promise<void> {
    this.flush();
    const header = encodeIndexHeader({ kind: this.kind, archiveId, recordsSha256: new Uint8Array(this.hash.digest()), count });
    writeSync(this.fd, header, 0, header.length, 0);
    await fsyncFd(this.fd);
    this.close();
  }

  /** Closes the file without finishing it; never throws. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // closing is all that is left to do with it
    }
  }

  private flush(): void {
    if (this.used === 0) return;
    this.writeOut(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  private writeOut(bytes: Uint8Array): void {
    this.hash.update(bytes);
    for (let done = 0; done < bytes.length; ) {
      done += writeSync(this.fd, bytes, done, bytes.length - done, INDEX_HEADER_BYTES + this.written + done);
    }
    this.written += bytes.length;
  }
}

/** An IndexFile's records read front to back through one buffer (RecordReader). */
class RecordStream implements RecordReader {
  bytes: Uint8Array;
  private start = 0;
  private end = 0;
  /** Record offset of the byte after the buffered ones. */
  private offset = 0;

  constructor(
    private readonly file: IndexFile,
    bufferBytes: number,
  ) {
    this.bytes = new Uint8Array(bufferBytes);
  }

  take(n: number): number {
    if (this.end - this.start < n && !this.refill(n)) return -1;
    const at = this.start;
    this.start += n;
    return at;
  }

  /** Moves the unread bytes to the front (growing the buffer for `n`) and reads after them; false when fewer than `n` are left. */
  private refill(n: number): boolean {
    if (n > this.bytes.length) {
      const grown = new Uint8Array(Math.max(n, 2 * this.bytes.length));
      grown.set(this.bytes.subarray(this.start, this.end));
      this.bytes = grown;
    } else this.bytes.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
    const got = this.file.readInto(this.bytes.subarray(this.end), this.offset);
    this.offset += got;
    this.end += got;
    return this.end >= n;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
