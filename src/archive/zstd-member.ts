// One zstd member per chunk for `.tar.zst` archives: a skippable frame carrying the member length, then one zstd frame.
import { zstdDecompressSync } from "node:zlib";
import { HashRelayError } from "../errors.ts";

/** Skippable frame magic (0x184D2A50-5F are reserved for skippable frames; decoders pass over them). */
export const ZSTD_SKIPPABLE_MAGIC = 0x184d2a5e;
const ZSTD_FRAME_MAGIC = 0xfd2fb528;
/** Skippable frame header (magic + size) + user data ("HR", 2 zero bytes, u32 LE member length). */
export const ZSTD_MEMBER_HEADER = 16;

/**
 * Fillers (filler.ts says where they go) are skippable frames of their own magic carrying "HF" and
 * zeros: every zstd decoder passes over them.
 */
export const ZSTD_FILLER_MAGIC = 0x184d2a5f;
/** Frame header (magic, size) and the "HF" tag. */
export const ZSTD_FILLER_MIN = 10;
/** One filler is at most this long, as a gzip filler (a longer gap takes several). */
export const ZSTD_FILLER_MAX = 65_557;

/** One zstd filler of exactly `length` bytes (ZSTD_FILLER_MIN..ZSTD_FILLER_MAX); RangeError otherwise. */
export function encodeZstdFiller(length: number): Uint8Array {
  if (!Number.isInteger(length) || length < ZSTD_FILLER_MIN || length > ZSTD_FILLER_MAX)
    throw new RangeError(`a zstd filler is ${ZSTD_FILLER_MIN}..${ZSTD_FILLER_MAX} bytes, not ${length}`);
  const filler = new Uint8Array(length);
  const view = new DataView(filler.buffer);
  view.setUint32(0, ZSTD_FILLER_MAGIC, true);
  view.setUint32(4, length - 8, true);
  filler[8] = 0x48; // H
  filler[9] = 0x46; // F
  return filler;
}

/**
 * Length of the zstd filler at bytes[offset], or 0 when none starts there. Throws BAD_FRAME for a
 * filler cut short, too long, or carrying anything but zeros after its tag.
 */
export function readZstdFillerLength(bytes: Uint8Array, offset: number): number {
  if (bytes.length - offset < ZSTD_FILLER_MIN) return 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset);
  if (view.getUint32(0, true) !== ZSTD_FILLER_MAGIC) return 0;
  const length = 8 + view.getUint32(4, true);
  if (length < ZSTD_FILLER_MIN || length > ZSTD_FILLER_MAX || bytes[offset + 8] !== 0x48 || bytes[offset + 9] !== 0x46)
    throw new HashRelayError("BAD_FRAME", `zstd filler at byte ${offset}: not a HashRelay filler`);
  if (bytes.length - offset < length) throw new HashRelayError("BAD_FRAME", `zstd filler at byte ${offset}: cut short`);
  for (let i = offset + ZSTD_FILLER_MIN; i < offset + length; i++)
    if (bytes[i] !== 0) throw new HashRelayError("BAD_FRAME", `zstd filler at byte ${offset}: carries data`);
  return length;
}

/** True when a zstd member (our skippable frame) starts at `offset`. */
export function isZstdMember(bytes: Uint8Array, offset: number): boolean {
  if (offset + 4 > bytes.length) return false;
  return new DataView(bytes.buffer, bytes.byteOffset + offset, 4).getUint32(0, true) === ZSTD_SKIPPABLE_MAGIC;
}

/** Skippable header + the zstd frame `compress` makes of `raw` (it must write the content size and a checksum). */
export function encodeZstdMember(raw: Uint8Array, compress: (raw: Uint8Array) => Uint8Array): Uint8Array {
  const frame = compress(raw);
  const out = new Uint8Array(ZSTD_MEMBER_HEADER + frame.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, ZSTD_SKIPPABLE_MAGIC, true);
  view.setUint32(4, 8, true);
  out[8] = 0x48; // H
  out[9] = 0x52; // R
  view.setUint32(12, out.length, true);
  out.set(frame, ZSTD_MEMBER_HEADER);
  return out;
}

/** Total length of the zstd member at `offset`; throws BAD_FRAME when the header is not ours. */
export function readZstdMemberLength(bytes: Uint8Array, offset: number): number {
  if (offset + ZSTD_MEMBER_HEADER > bytes.length) throw new HashRelayError("BAD_FRAME", `zstd member header truncated at byte ${offset}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, ZSTD_MEMBER_HEADER);
  if (
    view.getUint32(0, true) !== ZSTD_SKIPPABLE_MAGIC ||
    view.getUint32(4, true) !== 8 ||
    bytes[offset + 8] !== 0x48 ||
    bytes[offset + 9] !== 0x52
  ) {
    throw new HashRelayError("BAD_FRAME", `no HashRelay zstd member at byte ${offset}`);
  }
  const length = view.getUint32(12, true);
  if (length < ZSTD_MEMBER_HEADER + 9) throw new HashRelayError("BAD_FRAME", `zstd member at byte ${offset} claims ${length} bytes`);
  return length;
}

/** Content size declared in a zstd frame header, or null when the frame does not declare it. */
function frameContentSize(frame: Uint8Array): { size: number | null; checksum: boolean } {
  if (frame.length < 6 || new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0, true) !== ZSTD_FRAME_MAGIC) {
    throw new HashRelayError("BAD_FRAME", "zstd member holds no zstd frame");
  }
  const fhd = frame[4]!;
  const singleSegment = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const didBytes = [0, 1, 2, 4][fhd & 3]!;
  const at = 5 + (singleSegment ? 0 : 1) + didBytes;
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return { size: null, checksum: (fhd & 4) !== 0 };
  if (at + fcsBytes > frame.length) throw new HashRelayError("BAD_FRAME", "zstd frame header truncated");
  const view = new DataView(frame.buffer, frame.byteOffset + at, fcsBytes);
  const size =
    fcsBytes === 1
      ? view.getUint8(0)
      : fcsBytes === 2
        ? view.getUint16(0, true) + 256
        : fcsBytes === 4
          ? view.getUint32(0, true)
          : Number(view.getBigUint64(0, true));
  return { size, checksum: (fhd & 4) !== 0 };
}

/**
 * The raw bytes of a zstd member. Refuses (TOO_LARGE) a declared content size over `maxRaw` before
 * decompressing; BAD_FRAME for a frame without content size or checksum, or corrupt data;
 * HASH_MISMATCH when the output does not have the declared size.
 */
export function inflateZstdMember(member: Uint8Array, maxRaw: number): Uint8Array {
  const length = readZstdMemberLength(member, 0);
  if (length !== member.length) throw new HashRelayError("BAD_FRAME", `zstd member of ${member.length} bytes claims ${length}`);
  const frame = member.subarray(ZSTD_MEMBER_HEADER);
  const { size, checksum } = frameContentSize(frame);
  if (size === null || !checksum) throw new HashRelayError("BAD_FRAME", "zstd frame without content size or checksum");
  if (size > maxRaw) throw new HashRelayError("TOO_LARGE", `zstd member declares ${size} bytes, more than ${maxRaw}`);
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(zstdDecompressSync(frame, { maxOutputLength: Math.max(size, 1) }));
  } catch (err) {
    throw new HashRelayError("BAD_FRAME", `corrupt zstd member: ${(err as Error).message}`);
  }
  if (raw.length !== size) throw new HashRelayError("HASH_MISMATCH", `zstd member gave ${raw.length} bytes, declared ${size}`);
  return raw;
}
