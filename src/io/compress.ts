// Raw deflate for gzip members (libdeflate through Bun) and zstd frames, at fixed levels, so the same chunk gives the same bytes.
import { constants as zlibConstants, zstdCompressSync } from "node:zlib";
import { storedLength, writeStoredDeflate } from "../archive/stored-deflate.ts";

export { storedLength };

/**
 * Fixed compression level: part of what makes archive files reproducible for one Bun/libdeflate version.
 * Level 5, not 6: compression is most of a first backup's CPU, and libdeflate 5 is 1.35x faster than 6.
 * Its cost in bytes, measured on 64 KiB chunks: +0.2% on the benchmark's tree, +0.8% on Python's source
 * (1.038 x one `gzip -6` stream of the whole tar, against 1.030). Level 4 (1.5x) costs +2.7% on source
 * code, too close to the 1.05 x gzip -6 bound a first backup must stay under.
 */
export const COMPRESSION_LEVEL = 5;

/**
 * RAW deflate (no zlib/gzip wrapper) of `raw`: stored blocks when `looksIncompressible`, else libdeflate
 * at COMPRESSION_LEVEL, or stored blocks when those are shorter (PROTOCOL.md §8.3: a member must never
 * outgrow its chunk by more than a few bytes). Deterministic for a given Bun build.
 */
export function deflateRaw(raw: Uint8Array): Uint8Array {
  return deflateOrStore(raw) ?? storedDeflate(raw);
}

/**
 * deflateRaw's choice without the stored copy: libdeflate's raw deflate of `raw`, or null when `raw`
 * goes as stored blocks (whose bytes the caller writes where it wants them, storedLength(raw.length) long).
 */
export function deflateOrStore(raw: Uint8Array): Uint8Array | null {
  if (looksIncompressible(raw)) return null;
  const compressed = Bun.deflateSync(raw as Uint8Array<ArrayBuffer>, { level: COMPRESSION_LEVEL, library: "libdeflate" });
  return compressed.length <= storedLength(raw.length) ? compressed : null;
}

/** The slices a chunk is judged by: its start, middle and end, 4 KiB each. */
const SAMPLE_BYTES = 4096;
/** Samples that level-1 deflate shrinks by less than 2% do not compress. */
const INCOMPRESSIBLE_SHARE = 0.98;

/**
 * Whether deflating `raw` would be CPU for nothing: true when it holds at least three samples and
 * neither its first 4 KiB nor its start, middle and end 4 KiB deflated together (so that a block
 * repeated every 4 KiB or less, or slices repeating one another, count) shrink by 2% at level 1:
 * random bytes, media, archives, encrypted data. At most 16 KiB at the fastest level, against a
 * level-5 pass over the whole chunk. A chunk that compresses only between its samples is stored:
 * a loss of a few percent on such chunks (0.9% of /usr/share/doc's tar, the rest of the real-files
 * corpus none).
 */
export function looksIncompressible(raw: Uint8Array): boolean {
  if (raw.length < 3 * SAMPLE_BYTES) return false;
  if (!incompressible(raw.subarray(0, SAMPLE_BYTES))) return false;
  const samples = new Uint8Array(3 * SAMPLE_BYTES);
  samples.set(raw.subarray(0, SAMPLE_BYTES));
  const middle = Math.floor((raw.length - SAMPLE_BYTES) / 2);
  samples.set(raw.subarray(middle, middle + SAMPLE_BYTES), SAMPLE_BYTES);
  samples.set(raw.subarray(raw.length - SAMPLE_BYTES), 2 * SAMPLE_BYTES);
  return incompressible(samples);
}

function incompressible(sample: Uint8Array): boolean {
  return (
    Bun.deflateSync(sample as Uint8Array<ArrayBuffer>, { level: 1, library: "libdeflate" }).length >= sample.length * INCOMPRESSIBLE_SHARE
  );
}

/** zstd level for `.tar.zst` archives: fast, close to gzip -6 in size. */
export const ZSTD_LEVEL = 3;

/** One zstd frame with content size and checksum (what zstd-member.ts requires), deterministic for a given libzstd. */
export function zstdFrame(raw: Uint8Array): Uint8Array {
  const c = zlibConstants;
  return new Uint8Array(
    zstdCompressSync(raw, {
      params: { [c.ZSTD_c_compressionLevel]: ZSTD_LEVEL, [c.ZSTD_c_checksumFlag]: 1, [c.ZSTD_c_contentSizeFlag]: 1 },
    }),
  );
}

/** `raw` as a raw deflate stream of stored (uncompressed) blocks (RFC 1951 §3.2.4). */
export function storedDeflate(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(storedLength(raw.length));
  writeStoredDeflate(raw, out, 0);
  return out;
}
