// Raw deflate for gzip members: libdeflate through Bun at a fixed level, so the same chunk gives the same bytes.

/** Fixed compression level: part of what makes archive files reproducible for one Bun/libdeflate version. */
export const COMPRESSION_LEVEL = 6;

/** RAW deflate (no zlib/gzip wrapper) of `raw`, libdeflate level 6. Deterministic for a given Bun build. */
export function deflateRaw(raw: Uint8Array): Uint8Array {
  return Bun.deflateSync(raw as Uint8Array<ArrayBuffer>, { level: COMPRESSION_LEVEL, library: "libdeflate" });
}
