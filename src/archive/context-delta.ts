// Chunk deltas whose literal runs are deflated with the chunk's neighbouring bytes as a preset dictionary (PROTOCOL.md §8.7).
import { deflateRawSync } from "node:zlib";
import { HashRelayError } from "../errors.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { placeCopy, writeCopyOp, type DeltaPiece } from "./chunk-delta.ts";
import { inflateRawBounded } from "./gzip-member.ts";
import { pushVarint, readVarint, unzigzag, zigzag } from "./varint.ts";

/** A literal's dictionary holds at most this many bytes (deflate's window)... */
export const CONTEXT_WINDOW = 32_768;
/** ...of which at most this many follow the literal; the rest precede it. */
export const CONTEXT_AFTER = 8_192;
/** Inflated ops are at most one 41-byte op per 256 bytes of the largest chunk. */
export const CONTEXT_OPS_BOUND = 41 * Math.ceil(CHUNK_MAX / 256);
const OP_COPY = 0x01;
const OP_CONTEXT_LITERAL = 0x03;
/** Version 3's compact ops: a COPY naming its source by its place in the base, and a LITERAL, in varints. */
const OP_BASE_COPY = 0x04;
const OP_SHORT_LITERAL = 0x05;
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
 * literal run. With `baseIndexOf` (a version-3 session) the ops are compact: a copy whose source it places
 * in the base (≥ 0) is a BASE_COPY, every literal a SHORT_LITERAL (varints, a few bytes each).
 */
export function encodeContextDelta(raw: Uint8Array, pieces: readonly DeltaPiece[], baseIndexOf?: (id: Uint8Array) => number): Uint8Array {
  const literals = pieces.flatMap((p) => ("literal" in p ? [p.literal] : []));
  const next = literalStarts(
    literals.map((l) => l.start),
    raw.length,
  );
  const streams = literals.map((l, i) =>
    deflateLiteral(raw.subarray(l.start, l.start + l.length), literalContext(raw, l.start, l.start + l.length, next[i]!)),
  );
  const ops = new OpWriter(baseIndexOf);
  let l = 0;
  for (const p of pieces) {
    if ("copy" in p) ops.copy(p.copy);
    else ops.literal(p.literal.length, streams[l++]!.length);
  }
  const packedOps = deflateRawSync(ops.bytes(), { level: LITERAL_LEVEL });
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

/**
 * The ops of one context delta. Without `baseIndexOf`: COPY (41 bytes) and LITERAL (9). With it (version 3):
 * BASE_COPY (base place and offset as zigzag differences from the previous BASE_COPY's place and end, then
 * the length) for a source placed in the base, COPY otherwise, and SHORT_LITERAL (length, packed length).
 */
class OpWriter {
  private readonly out: number[] = [];
  private lastBase = 0;
  private lastEnd = 0;

  constructor(private readonly baseIndexOf?: (id: Uint8Array) => number) {}

  copy(copy: { id: Uint8Array; offset: number; length: number }): void {
    const place = this.baseIndexOf ? this.baseIndexOf(copy.id) : -1;
    if (place < 0) {
      const op = new Uint8Array(41);
      writeCopyOp(op, 0, copy);
      this.out.push(...op);
      return;
    }
    this.out.push(OP_BASE_COPY);
    pushVarint(this.out, zigzag(place - this.lastBase));
    pushVarint(this.out, zigzag(copy.offset - this.lastEnd));
    pushVarint(this.out, copy.length);
    this.lastBase = place;
    this.lastEnd = copy.offset + copy.length;
  }

  literal(length: number, packedLength: number): void {
    if (this.baseIndexOf) {
      this.out.push(OP_SHORT_LITERAL);
      pushVarint(this.out, length);
      pushVarint(this.out, packedLength);
      return;
    }
    const op = new Uint8Array(9);
    const view = new DataView(op.buffer);
    op[0] = OP_CONTEXT_LITERAL;
    view.setUint32(1, length);
    view.setUint32(5, packedLength);
    this.out.push(...op);
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
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
  const reader = new OpReader(ops, baseId);
  const delta: ContextDelta = { copies: [], literals: [] };
  let streamAt = 4 + opsLength;
  let filled = 0;
  while (!reader.done()) {
    const op = reader.next();
    if (op.length < 1 || filled + op.length > rawLength) throw bad("longer than its chunk");
    if ("id" in op) delta.copies.push({ at: filled, id: op.id, offset: op.offset, length: op.length });
    else {
      if (op.packed < 1 || streamAt + op.packed > body.length) throw bad("a literal stream runs past the body");
      delta.literals.push({ at: filled, length: op.length, stream: body.subarray(streamAt, streamAt + op.packed) });
      streamAt += op.packed;
    }
    filled += op.length;
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

/** Reads a context delta's ops one at a time; BASE_COPY and SHORT_LITERAL only with `baseId` (version 3). Throws BAD_FRAME. */
class OpReader {
  private at = 0;
  private lastBase = 0;
  private lastEnd = 0;
  private readonly view: DataView;

  constructor(
    private readonly ops: Uint8Array,
    private readonly baseId?: (baseIndex: number) => Uint8Array | undefined,
  ) {
    this.view = new DataView(ops.buffer, ops.byteOffset, ops.length);
  }

  done(): boolean {
    return this.at >= this.ops.length;
  }

  next(): { id: Uint8Array; offset: number; length: number } | { length: number; packed: number } {
    const kind = this.ops[this.at]!;
    const fixed = kind === OP_COPY ? 41 : kind === OP_CONTEXT_LITERAL ? 9 : 0;
    if (fixed > 0) {
      if (this.at + fixed > this.ops.length) throw new HashRelayError("BAD_FRAME", "context delta: an op cut by the end of the ops");
      const o = this.at;
      this.at += fixed;
      if (kind === OP_COPY)
        return { id: this.ops.slice(o + 1, o + 33), offset: this.view.getUint32(o + 33), length: this.view.getUint32(o + 37) };
      return { length: this.view.getUint32(o + 1), packed: this.view.getUint32(o + 5) };
    }
    if (!this.baseId || (kind !== OP_BASE_COPY && kind !== OP_SHORT_LITERAL))
      throw new HashRelayError("BAD_FRAME", `context delta: unknown op 0x${kind.toString(16)}`);
    this.at++;
    if (kind === OP_SHORT_LITERAL) return { length: this.varint(), packed: this.varint() };
    const place = this.lastBase + unzigzag(this.varint());
    const offset = this.lastEnd + unzigzag(this.varint());
    const length = this.varint();
    const id = place >= 0 ? this.baseId(place) : undefined;
    if (!id) throw new HashRelayError("BAD_FRAME", `context delta: a copy from base entry ${place}, past the base`);
    if (offset < 0) throw new HashRelayError("BAD_FRAME", "context delta: a copy from before its chunk's start");
    this.lastBase = place;
    this.lastEnd = offset + length;
    return { id, offset, length };
  }

  private varint(): number {
    const { value, next } = readVarint(this.ops, this.at, "context delta");
    this.at = next;
    return value;
  }
}
