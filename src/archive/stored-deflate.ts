// Raw deflate streams of stored (uncompressed) blocks (RFC 1951 §3.2.4): how incompressible chunks travel and are kept.

const STORED_BLOCK_MAX = 65535;

/** Length of `storedDeflate` output for `n` raw bytes: 5 bytes per block of at most 65535. */
export function storedLength(n: number): number {
  return n + 5 * Math.max(1, Math.ceil(n / STORED_BLOCK_MAX));
}

/**
 * `raw` as stored blocks (storedLength(raw.length) bytes) written at out[at..]. `out` is either apart from `raw` or a view of raw's buffer
 * from raw's own start (a chunk's buffer taking its own member): each block only moves forward, so the
 * blocks are moved last first and each header is written once its block's bytes moved.
 */
export function writeStoredDeflate(raw: Uint8Array, out: Uint8Array, at: number): void {
  const inPlace = out.buffer === raw.buffer && out.byteOffset === raw.byteOffset;
  const blocks = Math.max(1, Math.ceil(raw.length / STORED_BLOCK_MAX));
  for (let k = blocks - 1; k >= 0; k--) {
    const from = k * STORED_BLOCK_MAX;
    const length = Math.min(STORED_BLOCK_MAX, raw.length - from);
    const header = at + k * (STORED_BLOCK_MAX + 5);
    if (inPlace) out.copyWithin(header + 5, from, from + length);
    else out.set(raw.subarray(from, from + length), header + 5);
    out[header] = k === blocks - 1 ? 1 : 0; // BFINAL, BTYPE = 00; the rest of the byte is padding
    out[header + 1] = length & 0xff;
    out[header + 2] = length >>> 8;
    out[header + 3] = ~length & 0xff;
    out[header + 4] = (~length >>> 8) & 0xff;
  }
}
