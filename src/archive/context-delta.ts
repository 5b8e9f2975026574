// Chunk deltas whose literal runs are deflated with the chunk's neighbouring bytes as a preset dictionary (PROTOCOL.md §8.7).
import { deflateRawSync } from "node:zlib";
import { HashRelayError } from "../errors.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { placeCopy, writeCopyOp, type DeltaPiece } from "./chunk-delta.ts";
import { inflateRawBounded } from "./gzip-member.ts";

/** A literal's dictionary holds at most this many bytes (deflate's window)... */
export const CONTEXT_WINDOW = 32_768;
/** ...of which at most this many follow the literal; the rest precede it. */
export const CONTEXT_AFTER = 8_192;
/** Inflated ops are at most one 41-byte op per 256 bytes of the largest chunk. */
export const CONTEXT_OPS_BOUND = 41 * Math.ceil(CHUNK_MAX / 256);
const OP_COPY = 0x01;
const OP_CONTEXT_LITERAL = 0x03;
/** Version 3: a COPY naming its source by its place in the base manifest (4 bytes) instead of its id (32). */
const OP_BASE_COPY = 0x04;
const BASE_COPY_BYTES = 13;
/** Literal runs are small and sent once: the best level costs little. */
const LITERAL_LEVEL = 9;

/**
 * The dictionary of the literal run at [start, end) of `chunk`: the bytes after it up to CONTEXT_AFTER
 * or to the next literal run (`nextLiteral`, whichever comes first), then up to CONTEXT_WINDOW bytes in
 * all of those before it, nearest last. The server computes it from the chunk as it rebuilds it.
 */
export function literalContext(chunk: Uint8Array, start: number, end: number, nextLiteral: number): Uint8Array {
  const after = chunk.subarray(end, Math.min(end + CONTEXT_AFTER, nextLiteral));
  const before = chunk.subarray(Math.max(0, start - (CONTEXT_WINDOW - after.length)), start);
  const dictionary = new Uint8Array(after.length + before.length);
  dictionary.set(after);
  dictionary.set(before, after.length);
  return dictionary;
}

/** One literal run as raw deflate primed with `dictionary` (none when it is empty: a chunk that is all literal). */
function deflateLiteral(literal: Uint8Array, dictionary: Uint8Array): Uint8Array {
  return deflateRawSync(literal, { level: LITERAL_LEVEL, ...(dictionary.length ? { dictionary } : {}) });
}

/** Where each literal run starts, and the chunk's length at the end: nextLiteral for literalContext. */
function literalStarts(starts: readonly number[], rawLength: number): number[] {
  return [...starts.slice(1), rawLength];
}

/**
 * The CONTEXT_DELTA body after its index: u32 BE ops length | raw-deflate(ops) | one raw-deflate stream per
 * literal run. With `baseIndexOf` (a version-3 session), a copy whose source it places in the base (≥ 0)
 * names that place (BASE_COPY, 13 bytes) instead of the source's id (COPY, 41 bytes).
 */
export function encodeContextDelta(
  raw: Uint8Array,
  pieces: readonly DeltaPiece[],
  baseIndexOf: (id: Uint8Array) => number = () => -1,
): Uint8Array {
  const literals = pieces.flatMap((p) => ("literal" in p ? [p.literal] : []));
  const next = literalStarts(
    literals.map((l) => l.start),
    raw.length,
  );
  const streams = literals.map((l, i) =>
    deflateLiteral(raw.subarray(l.start, l.start + l.length), literalContext(raw, l.start, l.start + l.length, next[i]!)),
  );
  const ops = new Uint8Array(pieces.length * 41);
  const view = new DataView(ops.buffer);
  let o = 0;
  let l = 0;
  for (const p of pieces) {
    if ("copy" in p) o = writeCopy(ops, o, p.copy, baseIndexOf(p.copy.id));
    else {
      ops[o] = OP_CONTEXT_LITERAL;
      view.setUint32(o + 1, p.literal.length);
      view.setUint32(o + 5, streams[l++]!.length);
      o += 9;
    }
  }
  const packedOps = deflateRawSync(ops.subarray(0, o), { level: LITERAL_LEVEL });
  const body = new Uint8Array(4 + packedOps.length + streams.reduce((sum, s) => sum + s.length, 0));
  new DataView(body.buffer).setUint32(0, packedOps.length);
  body.set(packedOps, 4);
  let at = 4 + packedOps.length;
  for (const s of streams) {
    body.set(s, at);
    at += s.length;
  }
  return body;
}

/** A COPY op at ops[o]: BASE_COPY when the source has a place in the base (`baseIndex` ≥ 0), else COPY; returns the offset after it. */
function writeCopy(ops: Uint8Array, o: number, copy: { id: Uint8Array; offset: number; length: number }, baseIndex: number): number {
  if (baseIndex < 0) return writeCopyOp(ops, o, copy);
  const view = new DataView(ops.buffer, ops.byteOffset, ops.length);
  ops[o] = OP_BASE_COPY;
  view.setUint32(o + 1, baseIndex);
  view.setUint32(o + 5, copy.offset);
  view.setUint32(o + 9, copy.length);
  return o + BASE_COPY_BYTES;
}

/** A CONTEXT_DELTA, parsed and checked against its entry's raw length, not yet applied. */
export interface ContextDelta {
  copies: { at: number; id: Uint8Array; offset: number; length: number }[];
  literals: { at: number; length: number; stream: Uint8Array }[];
}

/**
 * Parses a CONTEXT_DELTA body (after the index) for a chunk of `rawLength` bytes. `baseId` (a version-3
 * session with a base) gives the id of a base entry, undefined past the base; without it a BASE_COPY is an
 * unknown op. Throws BAD_FRAME for a malformed body or ops (§8.7 rules 2-3), TOO_LARGE when the ops
 * inflate past CONTEXT_OPS_BOUND.
 */
export function decodeContextDelta(
  body: Uint8Array,
  rawLength: number,
  baseId?: (baseIndex: number) => Uint8Array | undefined,
): ContextDelta {
  const bad = (why: string) => new HashRelayError("BAD_FRAME", `context delta: ${why}`);
  if (body.length < 5) throw bad("shorter than its header");
  const opsLength = new DataView(body.buffer, body.byteOffset, body.length).getUint32(0);
  if (opsLength < 1 || 4 + opsLength > body.length) throw bad(`ops length ${opsLength} does not fit the body`);
  const ops = inflateRawBounded(body.subarray(4, 4 + opsLength), CONTEXT_OPS_BOUND);
  const view = new DataView(ops.buffer, ops.byteOffset, ops.length);
  const delta: ContextDelta = { copies: [], literals: [] };
  let streamAt = 4 + opsLength;
  let filled = 0;
  for (let o = 0; o < ops.length; ) {
    const kind = ops[o];
    const size = kind === OP_COPY ? 41 : kind === OP_CONTEXT_LITERAL ? 9 : kind === OP_BASE_COPY && baseId ? BASE_COPY_BYTES : 0;
    if (size === 0) throw bad(`unknown op 0x${(kind ?? 0).toString(16)}`);
    if (o + size > ops.length) throw bad("an op cut by the end of the ops");
    const length = view.getUint32(o + (kind === OP_COPY ? 37 : kind === OP_BASE_COPY ? 9 : 1));
    if (length < 1 || filled + length > rawLength) throw bad("longer than its chunk");
    if (kind === OP_COPY) delta.copies.push({ at: filled, id: ops.slice(o + 1, o + 33), offset: view.getUint32(o + 33), length });
    else if (kind === OP_BASE_COPY) {
      const id = baseId!(view.getUint32(o + 1));
      if (!id) throw bad(`a copy from base entry ${view.getUint32(o + 1)}, past the base`);
      delta.copies.push({ at: filled, id, offset: view.getUint32(o + 5), length });
    } else {
      const packed = view.getUint32(o + 5);
      if (packed < 1 || streamAt + packed > body.length) throw bad("a literal stream runs past the body");
      delta.literals.push({ at: filled, length, stream: body.subarray(streamAt, streamAt + packed) });
      streamAt += packed;
    }
    filled += length;
    o += size;
  }
  if (filled !== rawLength) throw bad(`gives ${filled} bytes, the chunk has ${rawLength}`);
  if (streamAt !== body.length) throw bad(`${body.length - streamAt} bytes after the last literal stream`);
  return delta;
}

/**
 * The chunk a parsed delta gives: every copy placed first (HASH_MISMATCH for a source `chunkRaw` does
 * not hold, or a range past its end), then each literal run inflated in order with its literalContext
 * (BAD_FRAME when a stream is corrupt or gives another length). The caller checks the SHA-256.
 */
export function applyContextDelta(delta: ContextDelta, rawLength: number, chunkRaw: (id: Uint8Array) => Uint8Array | null): Uint8Array {
  const out = new Uint8Array(rawLength);
  for (const copy of delta.copies) placeCopy(out, copy.at, copy, chunkRaw);
  const next = literalStarts(
    delta.literals.map((l) => l.at),
    rawLength,
  );
  delta.literals.forEach((l, i) => {
    let bytes: Uint8Array;
    try {
      bytes = inflateRawBounded(l.stream, l.length, literalContext(out, l.at, l.at + l.length, next[i]!));
    } catch (err) {
      throw err instanceof HashRelayError ? new HashRelayError("BAD_FRAME", `context delta literal: ${err.message}`) : err;
    }
    if (bytes.length !== l.length)
      throw new HashRelayError("BAD_FRAME", `context delta literal gives ${bytes.length} bytes, not ${l.length}`);
    out.set(bytes, l.at);
  });
  return out;
}
