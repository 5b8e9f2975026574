// The byte layout of the client's source index files: a header, then fixed or front-coded records.
import { ArchiveIdHasher, chunkIdHex, type ManifestEntry } from "./manifest.ts";
import { SEGMENT_KEY_BYTES, type HeaderTimes, type Segment } from "./stream-map.ts";

/**
 * The four files of a source index, each `header | records`:
 * - chunks:   per chunk of the archive, in order: id(32) u32 rawLength u32 blocks u64 start u64 firstBlock (56 bytes)
 * - blocks:   per block, chunk after chunk: u16 length u32 key-high u32 key-low (10 bytes; a 52-bit key)
 * - ids:      per distinct chunk id, ascending by id: id(32) u32 index of its first chunk (36 bytes)
 * - segments: per tar entry, in stream order: u16 shared u16 rest, the path's UTF-8 bytes after the
 *             `shared` it has in common with the one before, key(16), u64 length, u64 size, f64 mtime
 *             (NaN: not recorded) as its tar header holds them (front-coded paths)
 * Header (80 bytes): magic(4) u32 version, archive id(32), SHA-256 of the records(32), u64 count.
 * Every u16/u32/u64 is big-endian; a u64 is written as two u32 (values stay below 2^53).
 */
export const INDEX_HEADER_BYTES = 80;
export const CHUNK_RECORD_BYTES = 56;
export const BLOCK_RECORD_BYTES = 10;
export const ID_RECORD_BYTES = 36;
/** 2: segments record their header's size and mtime (an index of version 1 is not read: the next backup reads everything). */
const VERSION = 2;
const TWO_32 = 2 ** 32;

export type IndexFileKind = "chunks" | "blocks" | "ids" | "segments";

const MAGIC: Record<IndexFileKind, string> = { chunks: "HRIC", blocks: "HRIB", ids: "HRII", segments: "HRIS" };

export interface IndexHeader {
  kind: IndexFileKind;
  /** Hex archive id of the archive the file describes. */
  archiveId: string;
  /** SHA-256 of everything after the header. */
  recordsSha256: Uint8Array;
  /** Records in the file. */
  count: number;
}

export function encodeIndexHeader(h: IndexHeader): Uint8Array {
  const out = new Uint8Array(INDEX_HEADER_BYTES);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC[h.kind]));
  view.setUint32(4, VERSION);
  out.set(hexBytes(h.archiveId), 8);
  out.set(h.recordsSha256, 40);
  setU64(view, 72, h.count);
  return out;
}

/** The header of a `kind` file, or null when the bytes are not one of this version. */
export function decodeIndexHeader(bytes: Uint8Array, kind: IndexFileKind): IndexHeader | null {
  if (bytes.length < INDEX_HEADER_BYTES || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC[kind]) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, INDEX_HEADER_BYTES);
  if (view.getUint32(4) !== VERSION) return null;
  return {
    kind,
    archiveId: chunkIdHex(bytes.subarray(8, 40)),
    recordsSha256: bytes.slice(40, 72),
    count: getU64(view, 72),
  };
}

/** One chunk of the archive as the chunks file records it. */
export interface ChunkRecord extends ManifestEntry {
  /** Blocks of the chunk in the blocks file, from record `firstBlock` on. */
  blocks: number;
  /** Position of the chunk's first byte in the tar stream. */
  start: number;
  firstBlock: number;
}

export function encodeChunkRecord(out: Uint8Array, at: number, c: ChunkRecord): void {
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  out.set(c.id, at);
  view.setUint32(at + 32, c.rawLength);
  view.setUint32(at + 36, c.blocks);
  setU64(view, at + 40, c.start);
  setU64(view, at + 48, c.firstBlock);
}

export function decodeChunkRecord(bytes: Uint8Array, at: number): ChunkRecord {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    id: bytes.slice(at, at + 32),
    rawLength: view.getUint32(at + 32),
    blocks: view.getUint32(at + 36),
    start: getU64(view, at + 40),
    firstBlock: getU64(view, at + 48),
  };
}

/** Feeds chunk records (whole ones, in order) to an archive id: the manifest they describe. */
export function hashChunkRecords(bytes: Uint8Array, hasher: ArchiveIdHasher): void {
  const n = Math.floor(bytes.length / CHUNK_RECORD_BYTES);
  const entries = new Uint8Array(36 * n);
  for (let c = 0; c < n; c++) entries.set(bytes.subarray(c * CHUNK_RECORD_BYTES, c * CHUNK_RECORD_BYTES + 36), 36 * c);
  hasher.addEncoded(entries);
}

/** Block records of one chunk: u16 length, then the 52-bit key as two u32. */
export function encodeBlockRecords(lengths: Uint16Array, keys: Float64Array): Uint8Array {
  const out = new Uint8Array(BLOCK_RECORD_BYTES * lengths.length);
  const view = new DataView(out.buffer);
  for (let b = 0, at = 0; b < lengths.length; b++, at += BLOCK_RECORD_BYTES) {
    const key = keys[b]!;
    view.setUint16(at, lengths[b]!);
    view.setUint32(at + 2, Math.floor(key / TWO_32));
    view.setUint32(at + 6, key % TWO_32);
  }
  return out;
}

export function decodeBlockRecords(bytes: Uint8Array): { lengths: Uint16Array; keys: Float64Array } {
  const n = Math.floor(bytes.length / BLOCK_RECORD_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const lengths = new Uint16Array(n);
  const keys = new Float64Array(n);
  for (let b = 0, at = 0; b < n; b++, at += BLOCK_RECORD_BYTES) {
    lengths[b] = view.getUint16(at);
    keys[b] = view.getUint32(at + 2) * TWO_32 + view.getUint32(at + 6);
  }
  return { lengths, keys };
}

/** The id record: the id, and the index of the first chunk carrying it. */
export function encodeIdRecord(out: Uint8Array, at: number, id: Uint8Array, index: number): void {
  out.set(id, at);
  new DataView(out.buffer, out.byteOffset, out.length).setUint32(at + 32, index);
}

/** Front-codes segments one after the other: each path is written as what it does not share with the one before. */
export class SegmentEncoder {
  private previous: Uint8Array = new Uint8Array(0);
  private out = new Uint8Array(512);

  /** The record of `s`, the segment after the last one encoded: a view, valid until the next call. `s.path` is kept until then. */
  encode(s: Segment): Uint8Array {
    const limit = Math.min(s.path.length, this.previous.length, 0xffff);
    let shared = 0;
    while (shared < limit && s.path[shared] === this.previous[shared]) shared++;
    const rest = s.path.length - shared;
    const size = 4 + rest + SEGMENT_KEY_BYTES + 24;
    if (size > this.out.length) this.out = new Uint8Array(2 * size);
    const out = this.out;
    const view = new DataView(out.buffer);
    view.setUint16(0, shared);
    view.setUint16(2, rest);
    out.set(s.path.subarray(shared), 4);
    out.set(s.key.subarray(0, SEGMENT_KEY_BYTES), 4 + rest);
    setU64(view, 4 + rest + SEGMENT_KEY_BYTES, s.length);
    setU64(view, 4 + rest + SEGMENT_KEY_BYTES + 8, s.header?.size ?? 0);
    view.setFloat64(4 + rest + SEGMENT_KEY_BYTES + 16, s.header?.mtime ?? Number.NaN);
    this.previous = s.path;
    return out.subarray(0, size);
  }
}

/**
 * Record bytes read front to back without a view per read: `take(n)` consumes the next n bytes and
 * returns where they start in `bytes` (-1 when fewer are left); they stay there until the next call.
 */
export interface RecordReader {
  readonly bytes: Uint8Array;
  take(n: number): number;
}

/**
 * Decodes the records SegmentEncoder wrote, from `reader`. Returns null at the end; throws RangeError
 * on a record that does not fit. Allocates nothing per record once the paths' lengths have been seen
 * (a view per path length, a walk's one pass decodes ~20,000 records each time the offer runs).
 */
export class SegmentDecoder {
  private path: Uint8Array = new Uint8Array(256);
  /** views[n]: the first n bytes of `path`, made once per length. */
  private views: Uint8Array[] = [];
  private pathLength = 0;
  private readonly times: HeaderTimes = { size: 0, mtime: 0 };
  private readonly segment: Segment = { path: this.path, key: new Uint8Array(SEGMENT_KEY_BYTES), length: 0, header: undefined };
  /** The mtime's 8 bytes, read as a big-endian f64 through one view. */
  private readonly float = new DataView(new ArrayBuffer(8));

  constructor(private readonly reader: RecordReader) {}

  /** The next segment: one object, updated in place by every call (its `header` too). */
  next(): Segment | null {
    let at = this.reader.take(4);
    if (at < 0) return null;
    let bytes = this.reader.bytes;
    const shared = (bytes[at]! << 8) | bytes[at + 1]!;
    const rest = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (shared > this.pathLength) throw new RangeError("segment record shares more than its predecessor has");
    const length = shared + rest;
    if (length > this.path.length) this.growPath(length, shared);
    at = this.reader.take(rest + SEGMENT_KEY_BYTES + 24);
    if (at < 0) throw new RangeError("truncated segment record");
    bytes = this.reader.bytes;
    const path = this.path;
    for (let i = 0; i < rest; i++) path[shared + i] = bytes[at + i]!;
    this.pathLength = length;
    const segment = this.segment;
    segment.path = this.views[length] ??= path.subarray(0, length);
    at += rest;
    const key = segment.key;
    for (let i = 0; i < SEGMENT_KEY_BYTES; i++) key[i] = bytes[at + i]!;
    at += SEGMENT_KEY_BYTES;
    segment.length = u64At(bytes, at);
    for (let i = 0; i < 8; i++) this.float.setUint8(i, bytes[at + 16 + i]!);
    const mtime = this.float.getFloat64(0);
    if (Number.isNaN(mtime)) segment.header = undefined;
    else {
      this.times.size = u64At(bytes, at + 8);
      this.times.mtime = mtime;
      segment.header = this.times;
    }
    return segment;
  }

  /** Makes room for a path of `length` bytes, keeping its first `shared`; the views made so far go. */
  private growPath(length: number, shared: number): void {
    const grown = new Uint8Array(Math.max(length, this.path.length * 2));
    grown.set(this.path.subarray(0, shared));
    this.path = grown;
    this.views = [];
  }
}

/** The big-endian u32 at `at`. */
function u32At(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

/** The u64 at `at`, written as two big-endian u32 (below 2^53). */
function u64At(bytes: Uint8Array, at: number): number {
  return u32At(bytes, at) * TWO_32 + u32At(bytes, at + 4);
}

function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / TWO_32));
  view.setUint32(at + 4, value % TWO_32);
}

function getU64(view: DataView, at: number): number {
  return view.getUint32(at) * TWO_32 + view.getUint32(at + 4);
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
