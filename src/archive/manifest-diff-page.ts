// The wire form of a MANIFEST_DIFF page (PROTOCOL.md §8.5): version 3's fixed-width ops, version 4's varint and derived ones.
import { HashRelayError } from "../errors.ts";
import { CHUNK_MAX, MANIFEST_PAGE_ENTRIES, MAX_CHUNKS_PER_ARCHIVE } from "../protocol/constants.ts";
import type { ManifestEntry } from "./manifest.ts";
import type { DiffOp } from "./manifest-diff.ts";
import { pushVarint, readVarint, unzigzag, zigzag } from "./varint.ts";

const OP_COPY = 0x01;
const OP_NEW = 0x02;
const OP_COPY_RUN = 0x03;
const OP_NEW_ENTRIES = 0x04;
const OP_DERIVED = 0x05;

/** A decoded page: the entries [firstIndex, firstIndex + count) as ops against the base. */
export interface DiffPage {
  firstIndex: number;
  count: number;
  ops: DiffOp[];
}

/**
 * The page's bytes: u32 firstIndex | u32 count | ops. `compact` (a version-4 session): COPY_RUN,
 * NEW_ENTRIES and DERIVED in varints; else COPY and NEW (u32 fields), and a derived op is a bug (INTERNAL).
 */
export function encodeDiffPage(firstIndex: number, count: number, ops: readonly DiffOp[], compact = false): Uint8Array {
  const out: number[] = [];
  pushU32(out, firstIndex);
  pushU32(out, count);
  let b = 0; // where the last copy ended in the base
  for (const op of ops) {
    if (op.kind === "copy" && compact) {
      out.push(OP_COPY_RUN);
      pushVarint(out, zigzag(op.baseIndex - b));
      pushVarint(out, op.count);
      b = op.baseIndex + op.count;
    } else if (op.kind === "copy") {
      out.push(OP_COPY);
      pushU32(out, op.baseIndex);
      pushU32(out, op.count);
    } else if (op.kind === "new") {
      out.push(compact ? OP_NEW_ENTRIES : OP_NEW);
      if (compact) pushVarint(out, op.entries.length);
      else pushU32(out, op.entries.length);
      for (const e of op.entries) {
        for (const byte of e.id) out.push(byte);
        if (compact) pushVarint(out, e.rawLength);
        else pushU32(out, e.rawLength);
      }
    } else {
      if (!compact) throw new HashRelayError("INTERNAL", "a derived entry in a version-3 manifest diff");
      out.push(OP_DERIVED);
      pushVarint(out, op.rawLengths.length);
      for (const rawLength of op.rawLengths) pushVarint(out, rawLength);
    }
  }
  return Uint8Array.from(out);
}

function pushU32(out: number[], value: number): void {
  out.push((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/**
 * Inverse of encodeDiffPage; `compact`: a version-4 session, where ops 0x03-0x05 are valid too. Throws
 * BAD_FRAME on any malformed byte, and before its ops give more than `count` entries (what it allocates
 * is bounded by the page's count).
 */
export function decodeDiffPage(bytes: Uint8Array, compact = false): DiffPage {
  const bad = (why: string) => new HashRelayError("BAD_FRAME", `manifest diff page: ${why}`);
  if (bytes.length < 8) throw bad("shorter than its header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const firstIndex = view.getUint32(0);
  const count = view.getUint32(4);
  if (count < 1 || count > MANIFEST_PAGE_ENTRIES || firstIndex + count > MAX_CHUNKS_PER_ARCHIVE)
    throw bad(`bad entry range ${firstIndex}+${count}`);
  const reader = new OpReader(bytes, view, count, bad);
  while (reader.at < bytes.length) {
    const kind = bytes[reader.at++];
    if (kind === OP_COPY) reader.copy();
    else if (kind === OP_NEW) reader.fresh();
    else if (compact && kind === OP_COPY_RUN) reader.copyRun();
    else if (compact && kind === OP_NEW_ENTRIES) reader.freshEntries();
    else if (compact && kind === OP_DERIVED) reader.derived();
    else throw bad(`unknown op 0x${(kind ?? 0).toString(16)}`);
  }
  return { firstIndex, count, ops: reader.ops };
}

/** Reads one page's ops in turn, each after its op byte; counts the entries they give against the page's count. */
class OpReader {
  at = 8;
  readonly ops: DiffOp[] = [];
  private given = 0;
  /** Where the last copy ended in the base (COPY_RUN's baseIndex counts from it). */
  private b = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly view: DataView,
    private readonly count: number,
    private readonly bad: (why: string) => HashRelayError,
  ) {}

  copy(): void {
    if (this.at + 8 > this.bytes.length) throw this.bad("truncated copy");
    const baseIndex = this.view.getUint32(this.at);
    const n = this.entries(this.view.getUint32(this.at + 4), "copy of");
    this.at += 8;
    this.pushCopy(baseIndex, n);
  }

  copyRun(): void {
    const baseIndex = this.b + unzigzag(this.varint("copy run base index"));
    const n = this.entries(this.varint("copy run length"), "copy run of");
    if (baseIndex < 0) throw this.bad(`copy run from base entry ${baseIndex}`);
    this.pushCopy(baseIndex, n);
  }

  fresh(): void {
    if (this.at + 4 > this.bytes.length) throw this.bad("truncated new entries");
    const n = this.entries(this.view.getUint32(this.at), "new entries:");
    this.at += 4;
    if (this.at + 36 * n > this.bytes.length) throw this.bad(`${n} new entries do not fit`);
    const entries: ManifestEntry[] = [];
    for (let i = 0; i < n; i++, this.at += 36) entries.push(this.entry(this.at, this.view.getUint32(this.at + 32)));
    this.ops.push({ kind: "new", entries });
  }

  freshEntries(): void {
    const n = this.entries(this.varint("new entries count"), "new entries:");
    if (this.at + 33 * n > this.bytes.length) throw this.bad(`${n} new entries do not fit`);
    const entries: ManifestEntry[] = [];
    for (let i = 0; i < n; i++) {
      const idAt = this.at;
      this.at += 32;
      entries.push(this.entry(idAt, this.varint("raw length")));
    }
    this.ops.push({ kind: "new", entries });
  }

  derived(): void {
    const n = this.entries(this.varint("derived entries count"), "derived entries:");
    if (this.at + n > this.bytes.length) throw this.bad(`${n} derived entries do not fit`);
    const rawLengths: number[] = [];
    for (let i = 0; i < n; i++) rawLengths.push(this.rawLength(this.varint("raw length")));
    this.ops.push({ kind: "derived", rawLengths });
  }

  private pushCopy(baseIndex: number, n: number): void {
    this.ops.push({ kind: "copy", baseIndex, count: n });
    this.b = baseIndex + n;
  }

  /** An entry whose id is the 32 bytes at `idAt` (copied), once its raw length is in bounds. */
  private entry(idAt: number, rawLength: number): ManifestEntry {
    return { id: this.bytes.slice(idAt, idAt + 32), rawLength: this.rawLength(rawLength) };
  }

  private rawLength(rawLength: number): number {
    if (rawLength < 1 || rawLength > CHUNK_MAX) throw this.bad(`raw length ${rawLength} outside 1..${CHUNK_MAX}`);
    return rawLength;
  }

  /** `n` entries given by one op, once they are 1 or more and, with those given before, at most the page's count. */
  private entries(n: number, what: string): number {
    if (n < 1 || n > this.count) throw this.bad(`${what} ${n} entries do not fit in a page of ${this.count}`);
    this.given += n;
    if (this.given > this.count) throw this.bad(`ops give more than the page's ${this.count} entries`);
    return n;
  }

  private varint(what: string): number {
    const { value, next } = readVarint(this.bytes, this.at, `manifest diff page: ${what}`);
    this.at = next;
    return value;
  }
}
