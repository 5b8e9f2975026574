// One self-delimiting gzip member per chunk (BGZF-like), so the archive file is their plain concatenation.
import { crc32, inflateRawSync } from "node:zlib";
import { HashRelayError } from "../errors.ts";
import { storedLength, writeStoredDeflate } from "./stored-deflate.ts";
import { inflateZstdMember, isZstdMember, readZstdMemberLength } from "./zstd-member.ts";

/**
 * Member layout (RFC 1952 with one extra subfield):
 *   1f 8b 08 04          magic, CM=deflate, FLG=FEXTRA
 *   00 00 00 00          MTIME = 0 (deterministic)
 *   00 ff                XFL = 0, OS = 255 (unknown)
 *   08 00                XLEN = 8 (LE)
 *   48 52 04 00          subfield "HR", length 4 (LE)
 *   u32 LE               total member length, header to trailer inclusive
 *   raw deflate data
 *   u32 LE CRC32 of raw, u32 LE ISIZE = raw length
 */
export const GZIP_HEADER_BYTES = 20;
export const GZIP_TRAILER_BYTES = 8;
/** The smallest possible member: header, a 2-byte empty deflate stream, trailer. */
export const GZIP_MIN_MEMBER = GZIP_HEADER_BYTES + 2 + GZIP_TRAILER_BYTES;

const FIXED_HEADER = [0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0x00, 0xff, 0x08, 0x00, 0x48, 0x52, 0x04, 0x00];

/**
 * Filler layout (filler.ts says where they go): an empty member, RFC 1952 with one extra subfield of zeros.
 *   1f 8b 08 04 00 00 00 00 00 ff     as a member's header
 *   XLEN (LE) = 4 + n                 one subfield:
 *   48 46, n (LE), n zero bytes       "HF", its length n, zeros
 *   03 00                             an empty final deflate block
 *   00 00 00 00 00 00 00 00           CRC32 and ISIZE of nothing
 * Every gzip reader decodes it to nothing (gzip -t, zcat, tar -xzf, Python, Node checked).
 */
export const GZIP_FILLER_MIN = 26;
/** XLEN is 16 bits: one filler is at most this long (a longer gap takes several). */
export const GZIP_FILLER_MAX = GZIP_FILLER_MIN + 0xffff - 4;
const FILLER_HEADER = FIXED_HEADER.slice(0, 10);
const FILLER_TAIL = [0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];

/** Wraps `raw` compressed by `deflateRaw` (which must return RAW deflate) into one member. */
export function encodeGzipMember(raw: Uint8Array, deflateRaw: (raw: Uint8Array) => Uint8Array): Uint8Array {
  const deflated = deflateRaw(raw);
  const member = new Uint8Array(gzipMemberLength(raw.length, deflated));
  writeGzipMember(raw, deflated, member, 0);
  return member;
}

/** Length of the member writeGzipMember writes: `deflated`'s, or stored blocks of `rawLength` bytes when null. */
export function gzipMemberLength(rawLength: number, deflated: Uint8Array | null): number {
  return GZIP_HEADER_BYTES + (deflated ? deflated.length : storedLength(rawLength)) + GZIP_TRAILER_BYTES;
}

/**
 * encodeGzipMember's member written at out[at..], `deflated` the raw deflate of `raw` or null for stored
 * blocks; out must hold gzipMemberLength bytes from `at`. `out` may be a view of raw's buffer from raw's
 * start, so that a chunk's buffer takes its own member without a fresh buffer per chunk: raw's CRC32 is
 * taken and its stored blocks moved (forward) before the header is written over its first bytes.
 */
export function writeGzipMember(raw: Uint8Array, deflated: Uint8Array | null, out: Uint8Array, at: number): void {
  const total = gzipMemberLength(raw.length, deflated);
  const crc = crc32(raw) >>> 0;
  if (deflated) out.set(deflated, at + GZIP_HEADER_BYTES);
  else writeStoredDeflate(raw, out, at + GZIP_HEADER_BYTES);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  out.set(FIXED_HEADER, at);
  view.setUint32(at + 16, total, true);
  view.setUint32(at + total - 8, crc, true);
  view.setUint32(at + total - 4, raw.length >>> 0, true);
}

/**
 * Total length of the member starting at bytes[offset], read from its "HR" subfield.
 * Throws BAD_FRAME when fewer than 20 bytes are there, the header is not exactly this
 * format's, or the length is below the smallest possible member.
 */
export function readMemberLength(bytes: Uint8Array, offset: number): number {
  // .tar.zst archives use zstd members (see zstd-member.ts); one reader serves both formats.
  if (offset >= 0 && isZstdMember(bytes, offset)) return readZstdMemberLength(bytes, offset);
  if (offset < 0 || bytes.length - offset < GZIP_HEADER_BYTES) {
    throw new HashRelayError("BAD_FRAME", `gzip member at offset ${offset}: truncated header`);
  }
  for (let i = 0; i < FIXED_HEADER.length; i++) {
    if (bytes[offset + i] !== FIXED_HEADER[i]) {
      throw new HashRelayError("BAD_FRAME", `gzip member at offset ${offset}: not a HashRelay gzip member (header byte ${i})`);
    }
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset + offset, GZIP_HEADER_BYTES).getUint32(16, true);
  if (length < GZIP_MIN_MEMBER) {
    throw new HashRelayError("BAD_FRAME", `gzip member at offset ${offset}: length ${length} is too small`);
  }
  return length;
}

/** One gzip filler of exactly `length` bytes (GZIP_FILLER_MIN..GZIP_FILLER_MAX); RangeError otherwise. */
export function encodeGzipFiller(length: number): Uint8Array {
  if (!Number.isInteger(length) || length < GZIP_FILLER_MIN || length > GZIP_FILLER_MAX)
    throw new RangeError(`a gzip filler is ${GZIP_FILLER_MIN}..${GZIP_FILLER_MAX} bytes, not ${length}`);
  const pad = length - GZIP_FILLER_MIN;
  const filler = new Uint8Array(length);
  const view = new DataView(filler.buffer);
  filler.set(FILLER_HEADER, 0);
  view.setUint16(10, 4 + pad, true);
  filler[12] = 0x48; // H
  filler[13] = 0x46; // F
  view.setUint16(14, pad, true);
  filler.set(FILLER_TAIL, 16 + pad);
  return filler;
}

/**
 * Length of the gzip filler at bytes[offset], or 0 when none starts there (a member, or anything
 * else). Throws BAD_FRAME for a filler cut short or one whose padding, deflate block or trailer is not
 * exactly the format's.
 */
export function readGzipFillerLength(bytes: Uint8Array, offset: number): number {
  if (bytes.length - offset < 14) return 0;
  for (let i = 0; i < FILLER_HEADER.length; i++) if (bytes[offset + i] !== FILLER_HEADER[i]) return 0;
  if (bytes[offset + 12] !== 0x48 || bytes[offset + 13] !== 0x46) return 0;
  const xlen = bytes[offset + 10]! | (bytes[offset + 11]! << 8);
  const length = GZIP_FILLER_MIN - 4 + xlen;
  if (xlen < 4 || bytes.length - offset < length) throw new HashRelayError("BAD_FRAME", `gzip filler at offset ${offset}: cut short`);
  const pad = bytes[offset + 14]! | (bytes[offset + 15]! << 8);
  let sound = pad === xlen - 4;
  for (let i = offset + 16; sound && i < offset + 16 + pad; i++) sound = bytes[i] === 0;
  for (let i = 0; sound && i < FILLER_TAIL.length; i++) sound = bytes[offset + 16 + pad + i] === FILLER_TAIL[i];
  if (!sound) throw new HashRelayError("BAD_FRAME", `gzip filler at offset ${offset}: not exactly an empty HashRelay filler`);
  return length;
}

/**
 * The raw bytes of one whole member. ISIZE is read from the trailer and refused (TOO_LARGE)
 * when over `maxRaw`, before anything is inflated; output is capped at ISIZE.
 * Throws BAD_FRAME on a bad header, a length that disagrees with the header, corrupt deflate
 * data or data after the deflate stream; HASH_MISMATCH when CRC32 or ISIZE disagree with the output.
 */
export function inflateMember(member: Uint8Array, maxRaw: number): Uint8Array {
  if (isZstdMember(member, 0)) return inflateZstdMember(member, maxRaw);
  const declared = readMemberLength(member, 0);
  if (declared !== member.length) {
    throw new HashRelayError("BAD_FRAME", `gzip member: header says ${declared} bytes, got ${member.length}`);
  }
  const view = new DataView(member.buffer, member.byteOffset, member.byteLength);
  const expectedCrc = view.getUint32(member.length - 8, true);
  const isize = view.getUint32(member.length - 4, true);
  if (isize > maxRaw) {
    throw new HashRelayError("TOO_LARGE", `gzip member: declares ${isize} raw bytes, limit is ${maxRaw}`);
  }
  const deflated = member.subarray(GZIP_HEADER_BYTES, member.length - GZIP_TRAILER_BYTES);
  let raw: Uint8Array;
  let consumed: number;
  try {
    // one output chunk the size of the member's raw bytes (and a byte, to see the end): zlib's default
    // of 16 KiB chunks joined at the end made inflating a 64 KiB chunk 2.3x slower
    const chunkSize = Math.max(64, isize + 1);
    const result = inflateRawSync(deflated, { maxOutputLength: Math.max(isize, 1), chunkSize, info: true }) as unknown as {
      buffer: Uint8Array;
      engine: { bytesWritten: number };
    };
    raw = new Uint8Array(result.buffer.buffer, result.buffer.byteOffset, result.buffer.byteLength);
    consumed = result.engine.bytesWritten;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE") {
      throw new HashRelayError("HASH_MISMATCH", `gzip member: inflates to more than its ISIZE of ${isize} bytes`, "", { cause: err });
    }
    const reason = err instanceof Error ? err.message : String(err);
    throw new HashRelayError("BAD_FRAME", `gzip member: corrupt deflate data (${reason})`, "", { cause: err });
  }
  if (consumed !== deflated.length) {
    throw new HashRelayError("BAD_FRAME", `gzip member: ${deflated.length - consumed} bytes after the deflate stream`);
  }
  if (raw.length !== isize) {
    throw new HashRelayError("HASH_MISMATCH", `gzip member: inflated ${raw.length} bytes, ISIZE says ${isize}`);
  }
  const actualCrc = crc32(raw) >>> 0;
  if (actualCrc !== expectedCrc) {
    throw new HashRelayError(
      "HASH_MISMATCH",
      `gzip member: CRC32 ${hex32(actualCrc)} of the inflated data does not match the trailer's ${hex32(expectedCrc)}`,
    );
  }
  return raw;
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, "0");
}

/**
 * Inflates raw deflate data of at most `maxOut` bytes, with a preset `dictionary` when given (not empty);
 * throws TOO_LARGE past the bound and BAD_FRAME for corrupt data.
 */
export function inflateRawBounded(deflated: Uint8Array, maxOut: number, dictionary?: Uint8Array): Uint8Array {
  try {
    return new Uint8Array(
      inflateRawSync(deflated, { maxOutputLength: Math.max(maxOut, 1), ...(dictionary?.length ? { dictionary } : {}) }),
    );
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || /too large|maxOutputLength/i.test((err as Error).message)) {
      throw new HashRelayError("TOO_LARGE", `compressed data inflates past ${maxOut} bytes`);
    }
    throw new HashRelayError("BAD_FRAME", `corrupt compressed data: ${(err as Error).message}`);
  }
}
