// Fillers: members that carry no data, written where a reused run starts so that it lands at its old offset modulo the block size.
import { HashRelayError } from "../errors.ts";
import { GZIP_FILLER_MAX, GZIP_FILLER_MIN, encodeGzipFiller, inflateMember, readGzipFillerLength } from "./gzip-member.ts";
import type { ArchiveFormat } from "./naming.ts";
import { ZSTD_FILLER_MAX, ZSTD_FILLER_MIN, encodeZstdFiller, readZstdFillerLength } from "./zstd-member.ts";

/** The shortest filler of `format`: a gap between 1 and this many bytes is made one block longer. */
export function fillerMinimum(format: ArchiveFormat): number {
  return format === "tar.zst" ? ZSTD_FILLER_MIN : GZIP_FILLER_MIN;
}

/**
 * Bytes of fillers to write at `position` so that what follows starts at `target` modulo `block`:
 * 0 when it already does, else the distance, plus `block` while it is shorter than one filler.
 */
export function fillerGap(position: number, target: number, block: number, format: ArchiveFormat): number {
  let gap = (((target - position) % block) + block) % block;
  if (gap === 0) return 0;
  while (gap < fillerMinimum(format)) gap += block;
  return gap;
}

/**
 * Fillers totalling exactly `length` bytes, as few as can be (one filler is at most ~64 KiB); none
 * for 0. RangeError when `length` is below the format's minimum.
 */
export function encodeFillers(length: number, format: ArchiveFormat): Uint8Array {
  if (length === 0) return new Uint8Array(0);
  const [min, max, encode] =
    format === "tar.zst" ? [ZSTD_FILLER_MIN, ZSTD_FILLER_MAX, encodeZstdFiller] : [GZIP_FILLER_MIN, GZIP_FILLER_MAX, encodeGzipFiller];
  if (length < min) throw new RangeError(`fillers of ${length} bytes: one filler is at least ${min}`);
  const count = Math.ceil(length / max);
  const base = Math.floor(length / count);
  const out = new Uint8Array(length);
  let at = 0;
  for (let k = 0; k < count; k++) {
    const piece = base + (k < length - base * count ? 1 : 0);
    out.set(encode(piece), at);
    at += piece;
  }
  return out;
}

/**
 * Length of the one filler at bytes[offset] (gzip or zstd), or 0 when none starts there. Throws
 * BAD_FRAME for a filler cut short or malformed.
 */
export function fillerLength(bytes: Uint8Array, offset: number): number {
  return readGzipFillerLength(bytes, offset) || readZstdFillerLength(bytes, offset);
}

/** Bytes of the fillers that start `bytes` (0 when it starts with anything else). Throws as fillerLength. */
export function leadingFillers(bytes: Uint8Array): number {
  let at = 0;
  for (let length = fillerLength(bytes, 0); length > 0; length = fillerLength(bytes, at)) at += length;
  return at;
}

/**
 * The raw bytes of the one member `span` holds after the fillers that may precede it (a member as a
 * restore receives it: PROTOCOL.md §8.3). Throws as inflateMember; BAD_FRAME when it is only fillers.
 */
export function inflateStoredMember(span: Uint8Array, maxRaw: number): Uint8Array {
  const at = leadingFillers(span);
  if (at === span.length) throw new HashRelayError("BAD_FRAME", "fillers with no member after them");
  return inflateMember(at === 0 ? span : span.subarray(at), maxRaw);
}
