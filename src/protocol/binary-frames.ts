// Binary plaintexts of SEALED_MANIFEST, SEALED_NEED and SEALED_CHUNK frames, with strict length checks.
import { HashRelayError } from "../errors.ts";
import {
  AEAD_TAG_BYTES,
  CHUNK_MAX,
  MANIFEST_ENTRY_BYTES,
  MANIFEST_PAGE_ENTRIES,
  MAX_CHUNK_FRAME,
  MAX_CHUNKS_PER_ARCHIVE,
} from "./constants.ts";

/** One chunk of an archive: SHA-256 of its raw bytes and how many raw bytes it holds. */
export interface ManifestEntry {
  id: Uint8Array;
  rawLength: number;
}

/** Entries firstIndex .. firstIndex + entries.length - 1 of an archive's manifest. */
export interface ManifestPage {
  firstIndex: number;
  entries: ManifestEntry[];
}

/** The server's answer to one manifest page: the absolute indices it lacks, ascending. */
export interface NeedPage {
  firstIndex: number;
  count: number;
  needed: number[];
}

/** One chunk's gzip member, tagged with its index in the manifest. */
export interface ChunkPayload {
  index: number;
  member: Uint8Array;
}

const CHUNK_ID_BYTES = 32;
/** gzip magic + deflate method: every member starts with these. */
const GZIP_MEMBER_START = [0x1f, 0x8b, 0x08];
const ZSTD_MEMBER_START = [0x5e, 0x2a, 0x4d, 0x18];
/** A zstd filler (skippable frame 0x184D2A5F): a fetched member may follow fillers (§8.3). */
const ZSTD_FILLER_START = [0x5f, 0x2a, 0x4d, 0x18];
/** Smallest gzip member: 10-byte header, an empty deflate block, 8-byte trailer. */
const MIN_GZIP_MEMBER = 20;
/** Largest gzip member that still fits a SEALED_CHUNK frame. */
export const MAX_CHUNK_MEMBER = MAX_CHUNK_FRAME - AEAD_TAG_BYTES - 4;

function bad(message: string): HashRelayError {
  return new HashRelayError("BAD_FRAME", message);
}

function checkPageStart(what: string, firstIndex: number, count: number, fail: (m: string) => HashRelayError): void {
  // Pages may hold fewer than MANIFEST_PAGE_ENTRIES entries (the client flushes by bytes held); the
  // receiver checks that each page starts where the previous one ended.
  if (!Number.isInteger(firstIndex) || firstIndex < 0 || firstIndex + count > MAX_CHUNKS_PER_ARCHIVE) {
    throw fail(`${what} starts at index ${firstIndex}, outside 0..${MAX_CHUNKS_PER_ARCHIVE}`);
  }
  if (count < 1 || count > MANIFEST_PAGE_ENTRIES) {
    throw fail(`${what} holds ${count} entries, expected 1 to ${MANIFEST_PAGE_ENTRIES}`);
  }
  if (firstIndex + count > MAX_CHUNKS_PER_ARCHIVE) {
    throw fail(`${what} reaches index ${firstIndex + count - 1}, past the limit of ${MAX_CHUNKS_PER_ARCHIVE} chunks`);
  }
}

function checkRawLength(index: number, rawLength: number, fail: (m: string) => HashRelayError): void {
  if (!Number.isInteger(rawLength) || rawLength < 1 || rawLength > CHUNK_MAX) {
    throw fail(`chunk ${index} declares ${rawLength} raw bytes, expected 1 to ${CHUNK_MAX}`);
  }
}

const internal = (m: string) => new HashRelayError("INTERNAL", m);

/** `u32 firstIndex | (id 32 | u32 rawLength)*`. Throws INTERNAL for a page the peer would refuse. */
export function encodeManifestPage(page: ManifestPage): Uint8Array {
  checkPageStart("manifest page", page.firstIndex, page.entries.length, internal);
  const out = new Uint8Array(4 + page.entries.length * MANIFEST_ENTRY_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, page.firstIndex, false);
  page.entries.forEach((entry, i) => {
    if (entry.id.length !== CHUNK_ID_BYTES) throw internal(`chunk ${page.firstIndex + i} id is ${entry.id.length} bytes`);
    checkRawLength(page.firstIndex + i, entry.rawLength, internal);
    const at = 4 + i * MANIFEST_ENTRY_BYTES;
    out.set(entry.id, at);
    view.setUint32(at + CHUNK_ID_BYTES, entry.rawLength, false);
  });
  return out;
}

/** Inverse of encodeManifestPage; throws BAD_FRAME on any length, index or raw-length violation. */
export function decodeManifestPage(bytes: Uint8Array): ManifestPage {
  if (bytes.length < 4 || (bytes.length - 4) % MANIFEST_ENTRY_BYTES !== 0) {
    throw bad(`manifest page of ${bytes.length} bytes is not 4 + a multiple of ${MANIFEST_ENTRY_BYTES}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const firstIndex = view.getUint32(0, false);
  const count = (bytes.length - 4) / MANIFEST_ENTRY_BYTES;
  checkPageStart("manifest page", firstIndex, count, bad);
  const entries: ManifestEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = 4 + i * MANIFEST_ENTRY_BYTES;
    const rawLength = view.getUint32(at + CHUNK_ID_BYTES, false);
    checkRawLength(firstIndex + i, rawLength, bad);
    entries.push({ id: bytes.slice(at, at + CHUNK_ID_BYTES), rawLength });
  }
  return { firstIndex, entries };
}

/** Cuts a whole manifest into the pages the client sends: full pages, then the remainder. */
export function manifestPages(entries: ManifestEntry[]): ManifestPage[] {
  const pages: ManifestPage[] = [];
  for (let first = 0; first < entries.length; first += MANIFEST_PAGE_ENTRIES) {
    pages.push({ firstIndex: first, entries: entries.slice(first, first + MANIFEST_PAGE_ENTRIES) });
  }
  return pages;
}

/** `u32 firstIndex | u32 count | bitmap` (bit i, MSB first = index firstIndex + i needed). Throws INTERNAL on a bad value. */
export function encodeNeed(need: NeedPage): Uint8Array {
  checkPageStart("need", need.firstIndex, need.count, internal);
  const out = new Uint8Array(8 + Math.ceil(need.count / 8));
  const view = new DataView(out.buffer);
  view.setUint32(0, need.firstIndex, false);
  view.setUint32(4, need.count, false);
  let previous = -1;
  for (const index of need.needed) {
    const bit = index - need.firstIndex;
    if (!Number.isInteger(index) || index <= previous || bit < 0 || bit >= need.count) {
      throw internal(`need for ${need.firstIndex}+${need.count} lists index ${index} out of order or out of range`);
    }
    out[8 + (bit >> 3)]! |= 0x80 >> (bit & 7);
    previous = index;
  }
  return out;
}

/** Inverse of encodeNeed; throws BAD_FRAME on a length mismatch or a set padding bit. */
export function decodeNeed(bytes: Uint8Array): NeedPage {
  if (bytes.length < 8) throw bad(`need of ${bytes.length} bytes is shorter than its 8-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const firstIndex = view.getUint32(0, false);
  const count = view.getUint32(4, false);
  checkPageStart("need", firstIndex, count, bad);
  const bitmapBytes = Math.ceil(count / 8);
  if (bytes.length !== 8 + bitmapBytes) {
    throw bad(`need for ${count} chunks is ${bytes.length} bytes, expected ${8 + bitmapBytes}`);
  }
  const needed: number[] = [];
  for (let bit = 0; bit < bitmapBytes * 8; bit++) {
    if ((bytes[8 + (bit >> 3)]! & (0x80 >> (bit & 7))) === 0) continue;
    if (bit >= count) throw bad(`need for ${count} chunks sets padding bit ${bit}`);
    needed.push(firstIndex + bit);
  }
  return { firstIndex, count, needed };
}

/** `u32 index | gzip member`. Throws INTERNAL on a bad value. */
export function encodeChunkPayload(chunk: ChunkPayload): Uint8Array {
  checkChunk(chunk.index, chunk.member, internal);
  const out = new Uint8Array(4 + chunk.member.length);
  new DataView(out.buffer).setUint32(0, chunk.index, false);
  out.set(chunk.member, 4);
  return out;
}

/** encodeChunkPayload's checks, for a payload written where its member is: throws INTERNAL on a bad value. */
export function checkChunkPayload(index: number, member: Uint8Array): void {
  checkChunk(index, member, internal);
}

/** Inverse of encodeChunkPayload (member is a view into `bytes`); throws BAD_FRAME when it cannot be a gzip member. */
export function decodeChunkPayload(bytes: Uint8Array): ChunkPayload {
  return decodeChunk(bytes, [GZIP_MEMBER_START, ZSTD_MEMBER_START]);
}

/**
 * A CHUNK frame answering `fetch`: as decodeChunkPayload, but `member` is the stored member with the
 * fillers before it (§8.3), so it may start with a zstd filler. Throws BAD_FRAME.
 */
export function decodeFetchedChunk(bytes: Uint8Array): ChunkPayload {
  return decodeChunk(bytes, [GZIP_MEMBER_START, ZSTD_MEMBER_START, ZSTD_FILLER_START]);
}

function decodeChunk(bytes: Uint8Array, starts: number[][]): ChunkPayload {
  if (bytes.length < 4) throw bad(`chunk of ${bytes.length} bytes is shorter than its index`);
  const index = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(0, false);
  const member = bytes.subarray(4);
  checkChunk(index, member, bad, starts);
  return { index, member };
}

function checkChunk(
  index: number,
  member: Uint8Array,
  fail: (m: string) => HashRelayError,
  starts: number[][] = [GZIP_MEMBER_START, ZSTD_MEMBER_START],
): void {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_CHUNKS_PER_ARCHIVE) {
    throw fail(`chunk index ${index} is past the limit of ${MAX_CHUNKS_PER_ARCHIVE} chunks`);
  }
  if (member.length < MIN_GZIP_MEMBER || member.length > MAX_CHUNK_MEMBER) {
    throw fail(`chunk ${index} member is ${member.length} bytes, expected ${MIN_GZIP_MEMBER} to ${MAX_CHUNK_MEMBER}`);
  }
  // a gzip member (.tar.gz) or a zstd member: skippable frame 5e 2a 4d 18 (.tar.zst)
  if (!starts.some((start) => start.every((b, i) => member[i] === b))) {
    throw fail(`chunk ${index} is not a gzip or zstd member (bad magic)`);
  }
}
