// Where a delta's bytes go: each changed chunk of a stored archive described against the one before it, as the client would.
import fs from "node:fs";
import { createHash } from "node:crypto";
import {
  BlockIndex,
  blocksOf,
  chunkDeltaOps,
  deltaPieces,
  sha256BlockKey,
  type BlockSizes,
  type DeltaPiece,
} from "../../src/archive/chunk-delta.ts";
import { encodeContextDelta } from "../../src/archive/context-delta.ts";
import { inflateMember, readGzipFillerLength, readMemberLength } from "../../src/archive/gzip-member.ts";
import { CHUNK_MAX } from "../../src/protocol/constants.ts";
import { deflateRaw } from "../../src/io/compress.ts";

/** One stored archive's chunks, raw, in order (a HashRelay archive is one member per chunk). */
export function chunksOf(file: string): Uint8Array[] {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const filler = readGzipFillerLength(bytes, at);
    if (filler > 0) {
      at += filler;
      continue;
    }
    const length = readMemberLength(bytes, at);
    chunks.push(inflateMember(bytes.subarray(at, at + length), CHUNK_MAX));
    at += length;
  }
  return chunks;
}

/** What the changed chunks of a backup cost, split the way the brief of issue 18 asks. */
export interface Anatomy {
  chunks: number;
  /** Body bytes of the frames as the client picks them (CONTEXT_DELTA or CHUNK_DELTA, the smaller). */
  body: number;
  /** Literal bytes, raw: all of them, those in tar headers, and the edges (literal bytes equal to the old bytes around). */
  literal: number;
  headerLiteral: number;
  edges: number;
  /** The body if every edge were copied (what finer hashes of the old bytes would at best give). */
  bodyWithoutEdges: number;
  /**
   * The body if the client put back each header's old size, mtime and checksum (bytes 124-156), cut the
   * chunk again and copied every block that then matches (what rebuilding old headers would give).
   */
  bodyWithOldHeaders: number;
  /** Both of the above. */
  bodyWithBoth: number;
  /**
   * The body if the client had the hashes of the old bytes around each literal run in SUB_BLOCK-byte
   * pieces (what option (b) of issue 18, sub-block hashes asked from the server, gives), old headers back.
   */
  bodyWithSubBlocks: number;
  /** Sub-block hashes those old bytes hold: at 8 bytes each, what the server would send back. */
  subBlocks: number;
}

/** The sub-block size option (b) is priced at. */
export const SUB_BLOCK = 64;

/** Header bytes that change when a file is edited or touched: size (124), mtime (136), checksum (148). */
const FIELDS_AT = 124;
const FIELDS_END = 156;

/** Every ustar header of a tar stream (the archive's chunks, in order) by its name and prefix fields: its bytes 124-156. */
export function oldHeaderFields(chunks: Uint8Array[]): Map<string, Uint8Array> {
  const stream = Buffer.concat(chunks);
  const fields = new Map<string, Uint8Array>();
  for (let at = 0; at + 512 <= stream.length; ) {
    if (stream.toString("latin1", at + 257, at + 262) !== "ustar") break;
    fields.set(nameOf(stream, at), stream.subarray(at + FIELDS_AT, at + FIELDS_END));
    const size = Number.parseInt(
      stream
        .toString("latin1", at + 124, at + 136)
        .replace(/\0.*$/, "")
        .trim() || "0",
      8,
    );
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return fields;
}

function nameOf(bytes: Uint8Array, at: number): string {
  return Buffer.from(bytes.subarray(at, at + 100)).toString("latin1") + Buffer.from(bytes.subarray(at + 345, at + 500)).toString("latin1");
}

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest();
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** Describes `after`'s chunks that `before` lacks against `before`'s blocks, cut with `sizes`. */
export function anatomyOf(before: Uint8Array[], after: Uint8Array[], sizes: BlockSizes): Anatomy {
  const oldById = new Map(before.map((raw) => [hex(sha(raw)), raw]));
  const index = new BlockIndex(before.map((raw) => blocksOf(sha(raw), raw, sha256BlockKey, sizes)));
  const fields = oldHeaderFields(before);
  const total: Anatomy = {
    chunks: 0,
    body: 0,
    literal: 0,
    headerLiteral: 0,
    edges: 0,
    bodyWithoutEdges: 0,
    bodyWithOldHeaders: 0,
    bodyWithBoth: 0,
    bodyWithSubBlocks: 0,
    subBlocks: 0,
  };
  let streamAt = 0;
  for (const raw of after) {
    const id = sha(raw);
    const start = streamAt;
    streamAt += raw.length;
    if (oldById.has(hex(id))) continue;
    const { pieces, literalBytes } = deltaPieces(blocksOf(id, raw, sha256BlockKey, sizes), index);
    total.chunks++;
    if (literalBytes > raw.length / 2) {
      // mostly new (an added file): the client sends it whole, as a gzip member of ~30 bytes more
      const whole = deflateRaw(raw).length + 30;
      total.body += whole;
      total.bodyWithoutEdges += whole;
      total.bodyWithOldHeaders += whole;
      total.bodyWithBoth += whole;
      total.bodyWithSubBlocks += whole;
      continue;
    }
    total.body += bodyOf(raw, pieces);
    for (const p of pieces) {
      if ("copy" in p) continue;
      total.literal += p.literal.length;
      total.headerLiteral += headerBytesIn(raw, start, p.literal.start, p.literal.start + p.literal.length);
    }
    const trimmed = trimEdges(raw, pieces, oldById);
    total.edges += literalBytesOf(pieces) - literalBytesOf(trimmed);
    total.bodyWithoutEdges += bodyOf(raw, trimmed);
    const headed = withOldHeaders(raw, start, id, index, fields, sizes);
    total.bodyWithOldHeaders += bodyOf(raw, headed);
    total.bodyWithBoth += bodyOf(raw, trimEdges(raw, headed, oldById));
    const sub = subBlockPieces(raw, headed, oldById);
    total.bodyWithSubBlocks += bodyOf(raw, sub.pieces);
    total.subBlocks += sub.hashes;
  }
  return total;
}

function literalBytesOf(pieces: DeltaPiece[]): number {
  return pieces.reduce((n, p) => n + ("literal" in p ? p.literal.length : 0), 0);
}

/** `pieces` with every literal run's edges (the bytes equal to the old ones around it) copied instead. */
function trimEdges(raw: Uint8Array, pieces: DeltaPiece[], oldById: Map<string, Uint8Array>): DeltaPiece[] {
  return pieces.flatMap((p, i) => ("copy" in p ? [p] : withoutEdges(raw, p.literal, pieces[i - 1], pieces[i + 1], oldById)));
}

function bodyOf(raw: Uint8Array, pieces: DeltaPiece[]): number {
  return Math.min(encodeContextDelta(raw, pieces).length, deflateRaw(chunkDeltaOps(raw, pieces)).length);
}

/** Bytes of [s, e) of the chunk (at stream position `start`) that lie in a ustar header. */
function headerBytesIn(raw: Uint8Array, start: number, s: number, e: number): number {
  let n = 0;
  for (let at = s + ((512 - ((start + s) % 512)) % 512); at + 512 <= raw.length && at < e; at += 512) {
    const magic = String.fromCharCode(...raw.subarray(at + 257, at + 262));
    if (magic === "ustar") n += Math.min(e, at + 512) - at;
  }
  return n;
}

/**
 * The literal run split into a copy of its common prefix with the old bytes after the copy before it,
 * the changed middle, and a copy of its common suffix with the old bytes before the copy after it.
 */
function withoutEdges(
  raw: Uint8Array,
  literal: { start: number; length: number },
  before: DeltaPiece | undefined,
  after: DeltaPiece | undefined,
  oldById: Map<string, Uint8Array>,
): DeltaPiece[] {
  const { start, length } = literal;
  let prefix = 0;
  let suffix = 0;
  const out: DeltaPiece[] = [];
  if (before && "copy" in before) {
    const old = oldById.get(hex(before.copy.id))!;
    const from = before.copy.offset + before.copy.length;
    while (prefix < length && from + prefix < old.length && old[from + prefix] === raw[start + prefix]) prefix++;
    if (prefix > 0) out.push({ copy: { id: before.copy.id, offset: from, length: prefix } });
  }
  let tail: DeltaPiece | null = null;
  if (after && "copy" in after) {
    const old = oldById.get(hex(after.copy.id))!;
    const to = after.copy.offset;
    const end = start + length;
    while (suffix < length - prefix && to - suffix - 1 >= 0 && old[to - suffix - 1] === raw[end - suffix - 1]) suffix++;
    if (suffix > 0) tail = { copy: { id: after.copy.id, offset: to - suffix, length: suffix } };
  }
  if (length - prefix - suffix > 0) out.push({ literal: { start: start + prefix, length: length - prefix - suffix } });
  if (tail) out.push(tail);
  return out;
}

/**
 * The pieces of `raw` (at stream position `start`) when every ustar header it holds whole gets its old
 * bytes 124-156 back before cutting: blocks that then match are copied, the bytes that differ sent literal.
 */
function withOldHeaders(
  raw: Uint8Array,
  start: number,
  id: Uint8Array,
  index: BlockIndex,
  fields: Map<string, Uint8Array>,
  sizes: BlockSizes,
): DeltaPiece[] {
  const patched = raw.slice();
  for (let at = (512 - (start % 512)) % 512; at + 512 <= raw.length; at += 512) {
    if (Buffer.from(raw.subarray(at + 257, at + 262)).toString("latin1") !== "ustar") continue;
    const old = fields.get(nameOf(raw, at));
    if (old) patched.set(old, at + FIELDS_AT);
  }
  const { pieces } = deltaPieces(blocksOf(id, patched, sha256BlockKey, sizes), index);
  const out: DeltaPiece[] = [];
  let at = 0;
  for (const p of pieces) {
    const length = "copy" in p ? p.copy.length : p.literal.length;
    if ("literal" in p) out.push(p);
    else {
      // a copied stretch gives the old bytes: where the new ones differ, they go literal
      for (let i = 0; i < length; ) {
        let same = i;
        while (same < length && patched[at + same] === raw[at + same]) same++;
        if (same > i) out.push({ copy: { id: p.copy.id, offset: p.copy.offset + i, length: same - i } });
        let differ = same;
        while (differ < length && patched[at + differ] !== raw[at + differ]) differ++;
        if (differ > same) out.push({ literal: { start: at + same, length: differ - same } });
        i = differ;
      }
    }
    at += length;
  }
  return out;
}

/**
 * `pieces` with each literal run matched against the old bytes around it in SUB_BLOCK-byte pieces, at
 * every offset of the run (as rsync matches): the old bytes after the copy before the run and before the
 * copy after it, twice the run's length each way. Returns the pieces and how many sub-blocks were hashed.
 */
function subBlockPieces(raw: Uint8Array, pieces: DeltaPiece[], oldById: Map<string, Uint8Array>): { pieces: DeltaPiece[]; hashes: number } {
  let hashes = 0;
  const out = pieces.flatMap((p, i) => {
    if ("copy" in p) return [p];
    const sources = new Map<string, { id: Uint8Array; offset: number }>();
    const add = (id: Uint8Array, from: number, to: number) => {
      const old = oldById.get(hex(id))!;
      for (let at = Math.max(0, from); at + SUB_BLOCK <= Math.min(to, old.length); at += SUB_BLOCK, hashes++)
        sources.set(hex(old.subarray(at, at + SUB_BLOCK)), { id, offset: at });
    };
    const reach = 2 * p.literal.length;
    const before = pieces[i - 1];
    const after = pieces[i + 1];
    if (before && "copy" in before)
      add(before.copy.id, before.copy.offset + before.copy.length, before.copy.offset + before.copy.length + reach);
    if (after && "copy" in after) add(after.copy.id, after.copy.offset - reach, after.copy.offset);
    const found: DeltaPiece[] = [];
    const { start, length } = p.literal;
    let literalFrom = start;
    for (let at = start; at + SUB_BLOCK <= start + length; ) {
      const match = sources.get(hex(raw.subarray(at, at + SUB_BLOCK)));
      if (!match) {
        at++;
        continue;
      }
      if (at > literalFrom) found.push({ literal: { start: literalFrom, length: at - literalFrom } });
      const last = found.at(-1);
      if (at === literalFrom && last && "copy" in last && last.copy.id === match.id && last.copy.offset + last.copy.length === match.offset)
        last.copy.length += SUB_BLOCK;
      else found.push({ copy: { id: match.id, offset: match.offset, length: SUB_BLOCK } });
      at += SUB_BLOCK;
      literalFrom = at;
    }
    if (start + length > literalFrom) found.push({ literal: { start: literalFrom, length: start + length - literalFrom } });
    return found;
  });
  return { pieces: out, hashes };
}

if (import.meta.main) {
  // bun build/bench/delta-anatomy.ts OLD.tar.gz NEW.tar.gz: the changed chunks' bytes at the agent's and smaller block sizes.
  const [oldFile, newFile] = process.argv.slice(2);
  if (!oldFile || !newFile) {
    console.error("usage: bun build/bench/delta-anatomy.ts OLD.tar.gz NEW.tar.gz");
    process.exit(2);
  }
  const before = chunksOf(oldFile);
  const after = chunksOf(newFile);
  for (const sizes of [
    { min: 256, avg: 1024, max: 4096 },
    { min: 128, avg: 512, max: 2048 },
    { min: 64, avg: 256, max: 1024 },
  ]) {
    console.log(JSON.stringify({ sizes, ...anatomyOf(before, after, sizes) }));
  }
}
