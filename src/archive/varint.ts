// Unsigned LEB128 varints of at most 32 bits and zigzag signed deltas, for version 3's compact delta ops (PROTOCOL.md §8.7).
import { HashRelayError } from "../errors.ts";

/** Appends `value` (0 … 2^32 − 1) as an unsigned LEB128 varint: 7 bits a byte, low bits first, high bit = more follows. */
export function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** A signed difference (−2^31 … 2^31 − 1) as the unsigned value zigzag gives: 0, −1, 1, −2 … → 0, 1, 2, 3 … */
export function zigzag(n: number): number {
  return n >= 0 ? 2 * n : -2 * n - 1;
}

export function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/**
 * The varint at `bytes[at]` and the offset after it. BAD_FRAME (`what` names the field) when it is cut by
 * the end, longer than 5 bytes, or 2^32 or more.
 */
export function readVarint(bytes: Uint8Array, at: number, what: string): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = at; i < at + 5; i++) {
    const byte = bytes[i];
    if (byte === undefined) throw new HashRelayError("BAD_FRAME", `${what}: a varint cut by the end`);
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (value > 0xffff_ffff) throw new HashRelayError("BAD_FRAME", `${what}: a varint of 2^32 or more`);
      return { value, next: i + 1 };
    }
    scale *= 0x80;
  }
  throw new HashRelayError("BAD_FRAME", `${what}: a varint longer than 5 bytes`);
}
