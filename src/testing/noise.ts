// Deterministic pseudo-random bytes for tests: incompressible, and the same for a seed so failures reproduce.

/** `length` bytes of xorshift32 output from `seed`. */
export function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
