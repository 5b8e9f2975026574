// Version 3's sub-block hashes (PROTOCOL.md §8.8): their value, the HASH_REQUEST and SUB_HASHES bodies, and their limits.
import { createHash } from "node:crypto";
import { HashRelayError } from "../errors.ts";
import { MAX_HASH_RANGES, MAX_SUB_HASHES, SUB_BLOCK, SUB_HASH_BYTES } from "../protocol/constants.ts";
import { pushVarint, readVarint, unzigzag, zigzag } from "./varint.ts";

/** The multiplier of the rolling half of a sub-block hash: weak = Σ b[i]·R^(63−i) mod 2^32. */
const ROLL_BASE = 0x01000193;
/** R^(SUB_BLOCK − 1) mod 2^32: what the byte leaving the window weighs. */
const ROLL_OUT = (() => {
  let power = 1;
  for (let i = 1; i < SUB_BLOCK; i++) power = Math.imul(power, ROLL_BASE) >>> 0;
  return power;
})();

/** The rolling half of the hash of `bytes[at, at + SUB_BLOCK)`. */
export function weakHashAt(bytes: Uint8Array, at: number): number {
  let weak = 0;
  for (let i = at; i < at + SUB_BLOCK; i++) weak = (Math.imul(weak, ROLL_BASE) + bytes[i]!) >>> 0;
  return weak;
}

/** The weak hash of the window one byte on: `out` leaves at the front, `into` enters at the back. */
export function rollWeak(weak: number, out: number, into: number): number {
  return (Math.imul((weak - Math.imul(out, ROLL_OUT)) >>> 0, ROLL_BASE) + into) >>> 0;
}

/** The strong half: the first four bytes of SHA-256 of the sub-block, as a u32. */
export function strongHashAt(bytes: Uint8Array, at: number): number {
  return createHash("sha256")
    .update(bytes.subarray(at, at + SUB_BLOCK))
    .digest()
    .readUInt32BE(0);
}

/** Old bytes of one base chunk whose sub-blocks are asked for: at `offset + SUB_BLOCK·k`, k < count. */
export interface HashRange {
  baseIndex: number;
  offset: number;
  count: number;
}

const REQUEST_HEADER = 8;
/** The shortest range: three one-byte varints. */
const MIN_RANGE_BYTES = 3;

/**
 * The HASH_REQUEST body: u32 firstIndex | u32 n | n ranges, each three varints: zigzag(baseIndex − b),
 * zigzag(offset − e), count; b and e are the previous range's baseIndex and end (offset + SUB_BLOCK·count).
 */
export function encodeHashRequest(firstIndex: number, ranges: readonly HashRange[]): Uint8Array {
  const out: number[] = [];
  let b = 0;
  let e = 0;
  for (const r of ranges) {
    pushVarint(out, zigzag(r.baseIndex - b));
    pushVarint(out, zigzag(r.offset - e));
    pushVarint(out, r.count);
    b = r.baseIndex;
    e = r.offset + SUB_BLOCK * r.count;
  }
  const body = new Uint8Array(REQUEST_HEADER + out.length);
  const view = new DataView(body.buffer);
  view.setUint32(0, firstIndex);
  view.setUint32(4, ranges.length);
  body.set(out, REQUEST_HEADER);
  return body;
}

/**
 * A HASH_REQUEST body, its limits checked before anything is allocated for its answer (§8.8 rules 1-3):
 * TOO_LARGE past MAX_HASH_RANGES ranges (before any is read) or MAX_SUB_HASHES hashes (as soon as the counts
 * pass it); BAD_FRAME for a malformed body, a count of 0, or a range outside its chunk (`rawLengthOf(baseIndex)`
 * is the base entry's raw length, undefined past the base). Returns the ranges and how many hashes they ask for.
 */
export function decodeHashRequest(
  body: Uint8Array,
  rawLengthOf: (baseIndex: number) => number | undefined,
): { firstIndex: number; ranges: HashRange[]; hashes: number } {
  if (body.length < REQUEST_HEADER) throw new HashRelayError("BAD_FRAME", "hash request shorter than its header");
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const n = view.getUint32(4);
  if (n > MAX_HASH_RANGES) throw new HashRelayError("TOO_LARGE", `hash request names ${n} ranges, over ${MAX_HASH_RANGES}`);
  if (n < 1 || body.length < REQUEST_HEADER + MIN_RANGE_BYTES * n)
    throw new HashRelayError("BAD_FRAME", `hash request of ${body.length} bytes for ${n} ranges`);
  const ranges: HashRange[] = [];
  let hashes = 0;
  let at = REQUEST_HEADER;
  const next = () => {
    const v = readVarint(body, at, "hash request");
    at = v.next;
    return v.value;
  };
  for (let i = 0, b = 0, e = 0; i < n; i++) {
    const range = { baseIndex: b + unzigzag(next()), offset: e + unzigzag(next()), count: next() };
    hashes += range.count;
    if (hashes > MAX_SUB_HASHES) throw new HashRelayError("TOO_LARGE", `hash request asks for more than ${MAX_SUB_HASHES} hashes`);
    const rawLength = range.baseIndex >= 0 ? rawLengthOf(range.baseIndex) : undefined;
    if (rawLength === undefined)
      throw new HashRelayError("BAD_FRAME", `hash request names base entry ${range.baseIndex}, outside the base`);
    if (range.count < 1 || range.offset < 0 || range.offset + SUB_BLOCK * range.count > rawLength)
      throw new HashRelayError(
        "BAD_FRAME",
        `hash request range ${range.offset}+${range.count} sub-blocks is outside base entry ${range.baseIndex}`,
      );
    ranges.push(range);
    b = range.baseIndex;
    e = range.offset + SUB_BLOCK * range.count;
  }
  if (at !== body.length) throw new HashRelayError("BAD_FRAME", `hash request has ${body.length - at} bytes after its ranges`);
  return { firstIndex: view.getUint32(0), ranges, hashes };
}

/**
 * The SUB_HASHES body answering `ranges` (`hashes` in all): u32 firstIndex | each sub-block's weak hash
 * (u32) and strong hash (u32), in request order. `chunkRaw(baseIndex)` gives the base chunk's raw bytes,
 * or null when the server cannot read it now: its sub-blocks are answered with zeros.
 */
export function answerHashRequest(
  firstIndex: number,
  ranges: readonly HashRange[],
  hashes: number,
  chunkRaw: (baseIndex: number) => Uint8Array | null,
): Uint8Array {
  const body = new Uint8Array(4 + SUB_HASH_BYTES * hashes);
  const view = new DataView(body.buffer);
  view.setUint32(0, firstIndex);
  let at = 4;
  for (const range of ranges) {
    const raw = chunkRaw(range.baseIndex);
    for (let k = 0; k < range.count; k++, at += SUB_HASH_BYTES) {
      const from = range.offset + SUB_BLOCK * k;
      if (!raw || from + SUB_BLOCK > raw.length) continue;
      view.setUint32(at, weakHashAt(raw, from));
      view.setUint32(at + 4, strongHashAt(raw, from));
    }
  }
  return body;
}

/** The hashes of a SUB_HASHES body that answers a request of `hashes` for page `firstIndex`; BAD_FRAME when it does not. */
export function decodeSubHashes(body: Uint8Array, firstIndex: number, hashes: number): DataView {
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  if (body.length !== 4 + SUB_HASH_BYTES * hashes || view.getUint32(0) !== firstIndex)
    throw new HashRelayError("BAD_FRAME", `sub-block hashes of ${body.length} bytes do not answer ${hashes} hashes for page ${firstIndex}`);
  return new DataView(body.buffer, body.byteOffset + 4, body.length - 4);
}
