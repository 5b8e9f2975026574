// Sub-chunk deltas: a changed chunk described as byte ranges of chunks the server already holds, plus literal bytes.
import { createHash } from "node:crypto";
import { HashRelayError } from "../errors.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { Chunker } from "./chunker.ts";
import { chunkIdHex } from "./manifest.ts";

/** Block bounds inside a chunk: small enough that a 2-line edit costs about one block. */
export const BLOCK_MIN = 256;
export const BLOCK_AVG = 1024;
export const BLOCK_MAX = 4096;

/** One chunk as blocks: their lengths and 52-bit content keys (typed arrays: nothing for the collector to trace). */
export interface ChunkBlocks {
  id: Uint8Array;
  rawLength: number;
  lengths: Uint16Array;
  keys: Float64Array;
}

const OP_COPY = 0x01;
const OP_LITERAL = 0x02;
const TWO_32 = 2 ** 32;

/**
 * A block's content key: any 52-bit hash, the same on every run (the key is stored in the client's
 * block index). It need not resist attacks: a collision makes a delta rebuild the wrong bytes, which
 * the server's chunk id check refuses (HASH_MISMATCH), and the client then sends whole chunks.
 */
export type BlockKeyOf = (block: Uint8Array) => number;

/** The 52 leading bits of SHA-256(block): the portable key (the agent uses a faster one, see io/block-key.ts). */
export const sha256BlockKey: BlockKeyOf = (block) => {
  const d = createHash("sha256").update(block).digest();
  return (d.readUInt32BE(0) & 0xfffff) * TWO_32 + d.readUInt32BE(4);
};

/** Block bounds to cut with: the agent's, or others a measurement compares (min ≥ 256 keeps deltas within §8.6's ops bound). */
export interface BlockSizes {
  min: number;
  avg: number;
  max: number;
}

/** Cuts a raw chunk into content-defined blocks; the same bytes always give the same blocks. */
export function blocksOf(
  id: Uint8Array,
  raw: Uint8Array,
  keyOf: BlockKeyOf = sha256BlockKey,
  sizes: BlockSizes = { min: BLOCK_MIN, avg: BLOCK_AVG, max: BLOCK_MAX },
): ChunkBlocks {
  const cuts = new Chunker(sizes).cutLengths(raw);
  const lengths = new Uint16Array(cuts.length);
  const keys = new Float64Array(cuts.length);
  let at = 0;
  cuts.forEach((length, b) => {
    lengths[b] = length;
    keys[b] = keyOf(raw.subarray(at, at + length));
    at += length;
  });
  return { id, rawLength: raw.length, lengths, keys };
}

/** Where each block key of some chunks of the last archive (those around a change) can be found: which chunk, at which offset. */
export class BlockIndex {
  // Open addressing over the block keys in typed arrays: ~20 bytes a block, against ~120 for a Map,
  // and nothing for the garbage collector to trace.
  /** Slot → entry + 1 (0: empty); a power of two at least twice the entries, probed linearly. */
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly keyAt: Float64Array;
  private readonly chunkAt: Int32Array;
  private readonly offsetAt: Int32Array;
  private readonly lengthAt: Uint16Array;

  constructor(readonly chunks: readonly ChunkBlocks[]) {
    let blocks = 0;
    for (const chunk of chunks) blocks += chunk.keys.length;
    let capacity = 16;
    while (capacity < blocks * 2) capacity *= 2;
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.keyAt = new Float64Array(blocks);
    this.chunkAt = new Int32Array(blocks);
    this.offsetAt = new Int32Array(blocks);
    this.lengthAt = new Uint16Array(blocks);
    let entries = 0;
    for (let c = 0; c < chunks.length; c++) {
      const { keys, lengths } = chunks[c]!;
      let offset = 0;
      for (let b = 0; b < keys.length; b++) {
        const key = keys[b]!;
        const slot = this.slotOf(key);
        // the first place a block appears is where a delta copies it from
        if (this.slots[slot] === 0) {
          this.slots[slot] = entries + 1;
          this.keyAt[entries] = key;
          this.chunkAt[entries] = c;
          this.offsetAt[entries] = offset;
          this.lengthAt[entries] = lengths[b]!;
          entries++;
        }
        offset += lengths[b]!;
      }
    }
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  private slotOf(key: number): number {
    const high = Math.floor(key / TWO_32);
    let slot = (Math.imul((key >>> 0) ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1) >>> 0) & this.mask;
    for (;;) {
      const entry = this.slots[slot]!;
      if (entry === 0 || this.keyAt[entry - 1] === key) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  lookup(key: number, length: number): { chunk: ChunkBlocks; offset: number } | undefined {
    const entry = this.slots[this.slotOf(key)]!;
    if (entry === 0 || this.lengthAt[entry - 1] !== length) return undefined;
    return { chunk: this.chunks[this.chunkAt[entry - 1]!]!, offset: this.offsetAt[entry - 1]! };
  }
}

/** One piece of a delta: bytes copied from a chunk the server holds, or a run of the new chunk's own bytes. */
export type DeltaPiece = { copy: { id: Uint8Array; offset: number; length: number } } | { literal: { start: number; length: number } };

/**
 * Describes `raw` (cut into `blocks`) as copies from chunks in `index` and literal runs; adjacent
 * copies of one chunk, and adjacent literal blocks, merge. Returns the pieces in order and how many bytes are literal.
 */
export function deltaPieces(blocks: ChunkBlocks, index: BlockIndex): { pieces: DeltaPiece[]; literalBytes: number } {
  const pieces: DeltaPiece[] = [];
  let at = 0;
  let literalBytes = 0;
  blocks.keys.forEach((key, b) => {
    const length = blocks.lengths[b]!;
    const found = index.lookup(key, length);
    const last = pieces.at(-1);
    if (found) {
      if (last && "copy" in last && last.copy.id === found.chunk.id && last.copy.offset + last.copy.length === found.offset)
        last.copy.length += length;
      else pieces.push({ copy: { id: found.chunk.id, offset: found.offset, length } });
    } else {
      literalBytes += length;
      if (last && "literal" in last) last.literal.length += length;
      else pieces.push({ literal: { start: at, length } });
    }
    at += length;
  });
  return { pieces, literalBytes };
}

/** How many distinct chunks `pieces` copy from. */
export function sourceCount(pieces: readonly DeltaPiece[]): number {
  return new Set(pieces.flatMap((p) => ("copy" in p ? [p.copy.id] : []))).size;
}

/** Writes a COPY op (PROTOCOL.md §8.6) at ops[o]; returns the offset after it. */
export function writeCopyOp(ops: Uint8Array, o: number, copy: { id: Uint8Array; offset: number; length: number }): number {
  const view = new DataView(ops.buffer, ops.byteOffset, ops.length);
  ops[o] = OP_COPY;
  ops.set(copy.id, o + 1);
  view.setUint32(o + 33, copy.offset);
  view.setUint32(o + 37, copy.length);
  return o + 41;
}

/**
 * Describes `raw` (cut into `blocks`) as copies from chunks in `index` and literal bytes (the §8.6 ops);
 * adjacent copies of one chunk merge. Returns the op bytes (before compression) and how many bytes are literal.
 */
export function encodeChunkDelta(raw: Uint8Array, blocks: ChunkBlocks, index: BlockIndex): { ops: Uint8Array; literalBytes: number } {
  const { pieces, literalBytes } = deltaPieces(blocks, index);
  return { ops: chunkDeltaOps(raw, pieces), literalBytes };
}

/** The §8.6 op bytes (before compression) of `pieces` of `raw`. */
export function chunkDeltaOps(raw: Uint8Array, pieces: readonly DeltaPiece[]): Uint8Array {
  let size = 0;
  for (const p of pieces) size += "copy" in p ? 41 : 5 + p.literal.length;
  const ops = new Uint8Array(size);
  const view = new DataView(ops.buffer);
  let o = 0;
  for (const p of pieces) {
    if ("copy" in p) o = writeCopyOp(ops, o, p.copy);
    else {
      ops[o] = OP_LITERAL;
      view.setUint32(o + 1, p.literal.length);
      ops.set(raw.subarray(p.literal.start, p.literal.start + p.literal.length), o + 5);
      o += 5 + p.literal.length;
    }
  }
  return ops;
}

/**
 * Rebuilds a chunk of `rawLength` bytes from op bytes. `chunkRaw(id)` returns the raw bytes of a
 * chunk this client's store holds, or null. Throws BAD_FRAME for malformed ops or a length that does
 * not add up (checked before writing past rawLength), HASH_MISMATCH for a copy from a chunk not held
 * or outside it. The caller still checks SHA-256 of the result against the chunk id.
 */
export function applyChunkDelta(ops: Uint8Array, rawLength: number, chunkRaw: (id: Uint8Array) => Uint8Array | null): Uint8Array {
  if (rawLength < 1 || rawLength > CHUNK_MAX) throw new HashRelayError("BAD_FRAME", `delta for a chunk of ${rawLength} bytes`);
  const out = new Uint8Array(rawLength);
  const view = new DataView(ops.buffer, ops.byteOffset, ops.length);
  let o = 0;
  let filled = 0;
  while (o < ops.length) {
    const kind = ops[o];
    if (kind === OP_COPY) {
      if (o + 41 > ops.length) throw new HashRelayError("BAD_FRAME", "truncated copy in a chunk delta");
      const id = ops.subarray(o + 1, o + 33);
      const offset = view.getUint32(o + 33);
      const length = view.getUint32(o + 37);
      if (length < 1 || filled + length > rawLength) throw new HashRelayError("BAD_FRAME", "chunk delta longer than its chunk");
      placeCopy(out, filled, { id, offset, length }, chunkRaw);
      filled += length;
      o += 41;
    } else if (kind === OP_LITERAL) {
      if (o + 5 > ops.length) throw new HashRelayError("BAD_FRAME", "truncated literal in a chunk delta");
      const length = view.getUint32(o + 1);
      if (length < 1 || filled + length > rawLength || o + 5 + length > ops.length)
        throw new HashRelayError("BAD_FRAME", "chunk delta literal does not fit");
      out.set(ops.subarray(o + 5, o + 5 + length), filled);
      filled += length;
      o += 5 + length;
    } else {
      throw new HashRelayError("BAD_FRAME", `unknown op 0x${(kind ?? 0).toString(16)} in a chunk delta`);
    }
  }
  if (filled !== rawLength) throw new HashRelayError("BAD_FRAME", `chunk delta gives ${filled} bytes, the chunk has ${rawLength}`);
  return out;
}

/**
 * Writes the bytes a COPY names at out[at]. Throws HASH_MISMATCH when `chunkRaw` does not hold the
 * source chunk (another client's, or none) or the range runs past its end.
 */
export function placeCopy(
  out: Uint8Array,
  at: number,
  copy: { id: Uint8Array; offset: number; length: number },
  chunkRaw: (id: Uint8Array) => Uint8Array | null,
): void {
  const source = chunkRaw(copy.id);
  if (!source)
    throw new HashRelayError(
      "HASH_MISMATCH",
      `chunk delta copies from chunk ${chunkIdHex(copy.id).slice(0, 16)}…, which this server does not hold for you`,
      "the next backup sends whole chunks",
    );
  if (copy.offset + copy.length > source.length)
    throw new HashRelayError("HASH_MISMATCH", "chunk delta copies past the end of its source chunk");
  out.set(source.subarray(copy.offset, copy.offset + copy.length), at);
}

/** The chunk ids a delta copies from, in order (repeats included); throws BAD_FRAME on malformed ops. */
export function copySourcesOf(ops: Uint8Array): Uint8Array[] {
  const view = new DataView(ops.buffer, ops.byteOffset, ops.length);
  const ids: Uint8Array[] = [];
  let o = 0;
  while (o < ops.length) {
    if (ops[o] === OP_COPY && o + 41 <= ops.length) {
      ids.push(ops.subarray(o + 1, o + 33));
      o += 41;
    } else if (ops[o] === OP_LITERAL && o + 5 <= ops.length) {
      o += 5 + view.getUint32(o + 1);
    } else {
      throw new HashRelayError("BAD_FRAME", "malformed chunk delta");
    }
  }
  return ids;
}
