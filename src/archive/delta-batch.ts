// Version 3's DELTA_BATCH (PROTOCOL.md §8.9): several changed chunks' deltas in one frame, their ops and their literal bytes each one deflate stream
// (from version 4, the literal stream a zstd frame with the bytes before each run as dictionary).
import { constants as zlibConstants, deflateRawSync, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { HashRelayError } from "../errors.ts";
import { placeCopy, writeCopyOp, type DeltaPiece } from "./chunk-delta.ts";
import { CONTEXT_OPS_BOUND } from "./context-delta.ts";
import { inflateRawBounded } from "./gzip-member.ts";
import { pushVarint, readVarint, unzigzag, zigzag } from "./varint.ts";

/** Chunks one DELTA_BATCH carries at most: bounds what the server inflates for one frame (64 × 256 KiB of literal bytes). */
export const MAX_BATCH_CHUNKS = 64;
const OP_COPY = 0x01;
const OP_BASE_COPY = 0x04;
const OP_BATCH_LITERAL = 0x06;
const LEVEL = 9;
/** Version 4: bytes of a chunk before each literal run that join the literal stream's dictionary, at most. */
export const BATCH_CONTEXT_BYTES = 1024;
/** Version 4: the context's bytes at most (its last ones), after its 4-byte prefix. */
const CONTEXT_MAX = 1 << 20;
/** Version 4: what the context starts with, so that zstd takes it as raw content, never as a formatted dictionary. */
const CONTEXT_PREFIX = new TextEncoder().encode("HRBC");
/**
 * Version 4: zstd level of the literal stream (the client's choice: the server decodes any). On the
 * bench's scale-1 C (6-7 batches, 150-160 KiB of literal bytes) level 19 took 73-83 ms of the client's
 * main thread and level 9 7-9 ms, for 3-7% more bytes (generated 40.0 -> 42.8 KB, real 35.9 -> 37.9 KB);
 * level 12 still took 55-64 ms, level 6 saved 2-4 ms more for another 1.2-1.6 KB.
 */
const ZSTD_LEVEL = 9;
/** Version 4: the largest zstd window a server decodes a literal stream with (16 MiB: a batch's literal bytes at most). */
const ZSTD_WINDOW_LOG_MAX = 24;

/** One chunk of a batch: its index, its raw bytes and the pieces that describe them. */
export interface BatchedDelta {
  index: number;
  raw: Uint8Array;
  pieces: readonly DeltaPiece[];
}

/**
 * The DELTA_BATCH body of `deltas` (ascending indexes, 2 … MAX_BATCH_CHUNKS): u32 firstIndex | u8 n | n − 1
 * varint index gaps | u32 ops length | raw-deflate(every chunk's ops) | raw-deflate(every literal byte, in op
 * order). A copy whose source `baseIndexOf` places in the base is a BASE_COPY (as in §8.7), else a COPY.
 * `withContext` (a version-4 session): the literal stream is a zstd frame with batchContext as dictionary.
 */
export function encodeDeltaBatch(
  deltas: readonly BatchedDelta[],
  baseIndexOf: (id: Uint8Array) => number,
  withContext = false,
): Uint8Array {
  const head: number[] = [];
  deltas.forEach((d, i) => {
    if (i > 0) pushVarint(head, d.index - deltas[i - 1]!.index - 1);
  });
  const ops: number[] = [];
  const literals: Uint8Array[] = [];
  let lastBase = 0;
  let lastEnd = 0;
  for (const d of deltas) {
    for (const p of d.pieces) {
      if ("literal" in p) {
        ops.push(OP_BATCH_LITERAL);
        pushVarint(ops, p.literal.length);
        literals.push(d.raw.subarray(p.literal.start, p.literal.start + p.literal.length));
        continue;
      }
      const place = baseIndexOf(p.copy.id);
      if (place < 0) {
        const op = new Uint8Array(41);
        writeCopyOp(op, 0, p.copy);
        ops.push(...op);
        continue;
      }
      ops.push(OP_BASE_COPY);
      pushVarint(ops, zigzag(place - lastBase));
      pushVarint(ops, zigzag(p.copy.offset - lastEnd));
      pushVarint(ops, p.copy.length);
      lastBase = place;
      lastEnd = p.copy.offset + p.copy.length;
    }
  }
  const packedOps = deflateRawSync(Uint8Array.from(ops), { level: LEVEL });
  const packedLiterals = !literals.length
    ? new Uint8Array(0)
    : withContext
      ? zstdCompressSync(Buffer.concat(literals), {
          params: { [zlibConstants.ZSTD_c_compressionLevel]: ZSTD_LEVEL },
          dictionary: batchContext(deltas.map((d) => ({ raw: d.raw, literals: literalRuns(d.pieces) }))),
        } as object)
      : deflateRawSync(Buffer.concat(literals), { level: LEVEL });
  const body = new Uint8Array(5 + head.length + 4 + packedOps.length + packedLiterals.length);
  const view = new DataView(body.buffer);
  view.setUint32(0, deltas[0]!.index);
  body[4] = deltas.length;
  body.set(head, 5);
  view.setUint32(5 + head.length, packedOps.length);
  body.set(packedOps, 9 + head.length);
  body.set(packedLiterals, 9 + head.length + packedOps.length);
  return body;
}

/** One chunk of a parsed batch: where its copies and literal bytes go, not yet applied. */
export interface BatchChunk {
  index: number;
  rawLength: number;
  copies: { at: number; id: Uint8Array; offset: number; length: number }[];
  literals: { at: number; length: number; from: number }[];
}

/**
 * Parses a DELTA_BATCH body (§8.9 rules 1-4): `rawLengthOf(index)` is an announced entry's raw length
 * (undefined: none), `baseId(place)` a base entry's id (undefined past the base). Returns the chunks and
 * their literal bytes, inflated with a bound of their declared total; in a version-4 session decoded
 * as a zstd frame with the dictionary `dictionaryOf(chunks)` gives (batchContext over their copies
 * placed). Throws BAD_FRAME, TOO_LARGE, and what `dictionaryOf` throws.
 */
export function decodeDeltaBatch(
  body: Uint8Array,
  rawLengthOf: (index: number) => number | undefined,
  baseId: (place: number) => Uint8Array | undefined,
  dictionaryOf?: (chunks: readonly BatchChunk[]) => Uint8Array,
): { chunks: BatchChunk[]; literals: Uint8Array } {
  const bad = (why: string) => new HashRelayError("BAD_FRAME", `delta batch: ${why}`);
  const { indexes, at } = batchIndexes(body);
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const n = indexes.length;
  if (at + 4 > body.length) throw bad("cut before its ops");
  const opsLength = view.getUint32(at);
  if (opsLength < 1 || at + 4 + opsLength > body.length) throw bad(`ops length ${opsLength} does not fit the body`);
  const ops = inflateRawBounded(body.subarray(at + 4, at + 4 + opsLength), n * CONTEXT_OPS_BOUND);
  const chunks = parseOps(ops, indexes, rawLengthOf, baseId);
  const total = chunks.reduce((sum, c) => sum + c.literals.reduce((s, l) => s + l.length, 0), 0);
  const packed = body.subarray(at + 4 + opsLength);
  if (total === 0 && packed.length > 0) throw bad("literal bytes without a literal op");
  const literals =
    total === 0 ? new Uint8Array(0) : dictionaryOf ? unzstdBounded(packed, total, dictionaryOf(chunks)) : inflateRawBounded(packed, total);
  if (literals.length !== total) throw bad(`literal stream gives ${literals.length} bytes, the ops ${total}`);
  return { chunks, literals };
}

/** The chunk indexes a DELTA_BATCH body names, and where its ops length starts. Throws BAD_FRAME. */
export function batchIndexes(body: Uint8Array): { indexes: number[]; at: number } {
  if (body.length < 9) throw new HashRelayError("BAD_FRAME", "delta batch: shorter than its header");
  const n = body[4]!;
  if (n < 2 || n > MAX_BATCH_CHUNKS) throw new HashRelayError("BAD_FRAME", `delta batch: ${n} chunks, not 2 … ${MAX_BATCH_CHUNKS}`);
  const indexes = [new DataView(body.buffer, body.byteOffset, body.length).getUint32(0)];
  let at = 5;
  for (let i = 1; i < n; i++) {
    const gap = readVarint(body, at, "delta batch");
    at = gap.next;
    indexes.push(indexes[i - 1]! + 1 + gap.value);
  }
  return { indexes, at };
}

/** Each chunk's ops, read until they give its raw length; BAD_FRAME for anything else. */
function parseOps(
  ops: Uint8Array,
  indexes: number[],
  rawLengthOf: (index: number) => number | undefined,
  baseId: (place: number) => Uint8Array | undefined,
): BatchChunk[] {
  const bad = (why: string) => new HashRelayError("BAD_FRAME", `delta batch: ${why}`);
  const view = new DataView(ops.buffer, ops.byteOffset, ops.length);
  let o = 0;
  let lastBase = 0;
  let lastEnd = 0;
  let literalAt = 0;
  const varint = () => {
    const v = readVarint(ops, o, "delta batch");
    o = v.next;
    return v.value;
  };
  const chunks = indexes.map((index) => {
    const rawLength = rawLengthOf(index);
    if (rawLength === undefined) throw bad(`entry ${index}, which no page announced`);
    const chunk: BatchChunk = { index, rawLength, copies: [], literals: [] };
    for (let filled = 0; filled < rawLength; ) {
      const kind = ops[o++];
      let length: number;
      if (kind === OP_BATCH_LITERAL) {
        length = varint();
        chunk.literals.push({ at: filled, length, from: literalAt });
        literalAt += length;
      } else if (kind === OP_COPY) {
        if (o + 40 > ops.length) throw bad("an op cut by the end of the ops");
        length = view.getUint32(o + 36);
        chunk.copies.push({ at: filled, id: ops.slice(o, o + 32), offset: view.getUint32(o + 32), length });
        o += 40;
      } else if (kind === OP_BASE_COPY) {
        const place = lastBase + unzigzag(varint());
        const offset = lastEnd + unzigzag(varint());
        length = varint();
        const id = place >= 0 ? baseId(place) : undefined;
        if (!id) throw bad(`a copy from base entry ${place}, past the base`);
        if (offset < 0) throw bad("a copy from before its chunk's start");
        chunk.copies.push({ at: filled, id, offset, length });
        lastBase = place;
        lastEnd = offset + length;
      } else throw bad(kind === undefined ? `the ops end inside chunk ${index}` : `unknown op 0x${kind.toString(16)}`);
      if (length < 1 || filled + length > rawLength) throw bad(`chunk ${index}: longer than its chunk`);
      filled += length;
    }
    return chunk;
  });
  if (o !== ops.length) throw bad(`${ops.length - o} bytes after the last chunk's ops`);
  return chunks;
}

/** `chunk`'s raw bytes: its copies placed (placeBatchCopies), its literal bytes taken from `literals`. */
export function applyBatchChunk(chunk: BatchChunk, literals: Uint8Array, chunkRaw: (id: Uint8Array) => Uint8Array | null): Uint8Array {
  return fillBatchLiterals(placeBatchCopies(chunk, chunkRaw), chunk, literals);
}

/** `chunk`'s raw length of bytes with its copies placed (HASH_MISMATCH for a source `chunkRaw` does not hold), zeros where its literal runs go. */
export function placeBatchCopies(chunk: BatchChunk, chunkRaw: (id: Uint8Array) => Uint8Array | null): Uint8Array {
  const out = new Uint8Array(chunk.rawLength);
  for (const copy of chunk.copies) placeCopy(out, copy.at, copy, chunkRaw);
  return out;
}

/** `placed` (placeBatchCopies of `chunk`) with its literal runs filled from `literals`; returns it. */
export function fillBatchLiterals(placed: Uint8Array, chunk: BatchChunk, literals: Uint8Array): Uint8Array {
  for (const l of chunk.literals) placed.set(literals.subarray(l.from, l.from + l.length), l.at);
  return placed;
}

/** A chunk's bytes (at least every copied byte) and where its literal runs lie, in order. */
export interface ContextSource {
  raw: Uint8Array;
  literals: readonly { at: number; length: number }[];
}

/**
 * The literal stream's dictionary in a version-4 session (PROTOCOL.md §8.9): "HRBC", then for each
 * literal run of each chunk, in order, the chunk's bytes before it, back to the end of its previous run
 * (or the chunk's start) and at most BATCH_CONTEXT_BYTES; of those, the last 1 MiB. Only copied bytes,
 * so the server has them before it decodes a literal byte.
 */
export function batchContext(chunks: readonly ContextSource[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { raw, literals } of chunks) {
    let end = 0;
    for (const run of literals) {
      parts.push(raw.subarray(Math.max(end, run.at - BATCH_CONTEXT_BYTES), run.at));
      end = run.at + run.length;
    }
  }
  const all = Buffer.concat(parts);
  return Buffer.concat([CONTEXT_PREFIX, all.subarray(Math.max(0, all.length - CONTEXT_MAX))]);
}

/** A version-4 literal stream decoded: at most `total` bytes, a window of at most 16 MiB. TOO_LARGE past it, BAD_FRAME when corrupt. */
function unzstdBounded(packed: Uint8Array, total: number, dictionary: Uint8Array): Uint8Array {
  try {
    return new Uint8Array(
      zstdDecompressSync(packed, {
        params: { [zlibConstants.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG_MAX },
        dictionary,
        maxOutputLength: Math.max(total, 1),
      } as object),
    );
  } catch (err) {
    if (/larger than|maxOutputLength|too large/i.test((err as Error).message))
      throw new HashRelayError("TOO_LARGE", `delta batch: the literal stream decodes past ${total} bytes`);
    throw new HashRelayError("BAD_FRAME", `delta batch: corrupt literal stream: ${(err as Error).message}`);
  }
}

/** The literal runs of `pieces`, in the chunk's coordinates. */
function literalRuns(pieces: readonly DeltaPiece[]): { at: number; length: number }[] {
  return pieces.flatMap((p) => ("literal" in p ? [{ at: p.literal.start, length: p.literal.length }] : []));
}
