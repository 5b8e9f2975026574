// A manifest page written as runs copied from a base manifest both sides hold, plus the entries that are new.
import { HashRelayError } from "../errors.ts";
import { CHUNK_MAX, MANIFEST_PAGE_ENTRIES, MAX_CHUNKS_PER_ARCHIVE } from "../protocol/constants.ts";
import { chunkIdHex, type ManifestEntry } from "./manifest.ts";

export type DiffOp = { kind: "copy"; baseIndex: number; count: number } | { kind: "new"; entries: ManifestEntry[] };

const OP_COPY = 0x01;
const OP_NEW = 0x02;

/** The base manifest as a diff reads it (the client reads its own from disk, client/source-index). */
export interface BaseLookup {
  /** First base index holding this id, or -1. */
  indexOf(id: Uint8Array): number;
  /** True when base[index] exists and carries exactly this id and raw length. */
  matchesAt(index: number, entry: ManifestEntry): boolean;
}

/** A base manifest held in memory, with the base positions of its chunk ids. */
export class BaseManifest implements BaseLookup {
  private readonly positions = new Map<string, number>();

  constructor(readonly entries: readonly ManifestEntry[]) {
    entries.forEach((e, i) => {
      const hex = chunkIdHex(e.id);
      if (!this.positions.has(hex)) this.positions.set(hex, i);
    });
  }

  /** First base index holding this id, or -1. */
  indexOf(id: Uint8Array): number {
    return this.positions.get(chunkIdHex(id)) ?? -1;
  }

  /** True when base[index] exists and carries exactly this id and raw length. */
  matchesAt(index: number, entry: ManifestEntry): boolean {
    const b = this.entries[index];
    return b !== undefined && b.rawLength === entry.rawLength && equalIds(b.id, entry.id);
  }
}

function equalIds(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Describes `entries` against `base`: an entry continuing the current copy run (the next base
 * index holds it) extends the run; an entry found elsewhere in the base starts a new run there;
 * anything else is new. Deterministic; expandDiff(diffAgainstBase(e, b), b) equals e.
 */
export function diffAgainstBase(entries: readonly ManifestEntry[], base: BaseLookup): DiffOp[] {
  const ops: DiffOp[] = [];
  let run: { kind: "copy"; baseIndex: number; count: number } | null = null;
  let fresh: { kind: "new"; entries: ManifestEntry[] } | null = null;
  for (const entry of entries) {
    if (run && base.matchesAt(run.baseIndex + run.count, entry)) {
      run.count++;
      continue;
    }
    const at = base.indexOf(entry.id);
    if (at >= 0 && base.matchesAt(at, entry)) {
      run = { kind: "copy", baseIndex: at, count: 1 };
      fresh = null;
      ops.push(run);
      continue;
    }
    run = null;
    if (!fresh) {
      fresh = { kind: "new", entries: [] };
      ops.push(fresh);
    }
    fresh.entries.push(entry);
  }
  return ops;
}

/** The base manifest entries a diff copies from: an array, or one read a page at a time (the server's, from its index). */
export interface BaseEntries {
  readonly length: number;
  at(index: number): ManifestEntry | undefined;
}

/** The entries `ops` describe; throws BAD_FRAME when a copy leaves the base or the count is not `expected`. */
export function expandDiff(ops: readonly DiffOp[], base: BaseEntries, expected: number): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  for (const op of ops) {
    if (op.kind === "copy") {
      if (op.count < 1 || op.baseIndex + op.count > base.length) {
        throw new HashRelayError(
          "BAD_FRAME",
          `manifest diff copies base entries ${op.baseIndex}..${op.baseIndex + op.count - 1}, the base has ${base.length}`,
        );
      }
      if (out.length + op.count > expected) break;
      for (let i = 0; i < op.count; i++) out.push(base.at(op.baseIndex + i)!);
    } else {
      out.push(...op.entries);
    }
    if (out.length > expected) break;
  }
  if (out.length !== expected)
    throw new HashRelayError("BAD_FRAME", `manifest diff describes ${out.length}+ entries, the page announces ${expected}`);
  return out;
}

/**
 * Wire form (plaintext of SEALED_MANIFEST_DIFF): u32 firstIndex | u32 count | ops, each op
 * 0x01 u32 baseIndex u32 runLength, or 0x02 u32 n then n × (32-byte id | u32 rawLength).
 */
export function encodeDiffPage(firstIndex: number, count: number, ops: readonly DiffOp[]): Uint8Array {
  let size = 8;
  for (const op of ops) size += op.kind === "copy" ? 9 : 5 + 36 * op.entries.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, firstIndex);
  view.setUint32(4, count);
  let at = 8;
  for (const op of ops) {
    if (op.kind === "copy") {
      out[at] = OP_COPY;
      view.setUint32(at + 1, op.baseIndex);
      view.setUint32(at + 5, op.count);
      at += 9;
    } else {
      out[at] = OP_NEW;
      view.setUint32(at + 1, op.entries.length);
      at += 5;
      for (const e of op.entries) {
        out.set(e.id, at);
        view.setUint32(at + 32, e.rawLength);
        at += 36;
      }
    }
  }
  return out;
}

/** Inverse of encodeDiffPage; throws BAD_FRAME on any malformed byte before allocating per its counts. */
export function decodeDiffPage(bytes: Uint8Array): { firstIndex: number; count: number; ops: DiffOp[] } {
  const bad = (why: string) => new HashRelayError("BAD_FRAME", `manifest diff page: ${why}`);
  if (bytes.length < 8) throw bad("shorter than its header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const firstIndex = view.getUint32(0);
  const count = view.getUint32(4);
  if (count < 1 || count > MANIFEST_PAGE_ENTRIES || firstIndex + count > MAX_CHUNKS_PER_ARCHIVE)
    throw bad(`bad entry range ${firstIndex}+${count}`);
  const ops: DiffOp[] = [];
  let at = 8;
  while (at < bytes.length) {
    const kind = bytes[at];
    if (kind === OP_COPY) {
      if (at + 9 > bytes.length) throw bad("truncated copy");
      const baseIndex = view.getUint32(at + 1);
      const n = view.getUint32(at + 5);
      if (n < 1 || n > count) throw bad(`copy of ${n} entries in a page of ${count}`);
      ops.push({ kind: "copy", baseIndex, count: n });
      at += 9;
    } else if (kind === OP_NEW) {
      if (at + 5 > bytes.length) throw bad("truncated new entries");
      const n = view.getUint32(at + 1);
      at += 5;
      if (n < 1 || n > count || at + 36 * n > bytes.length) throw bad(`${n} new entries do not fit`);
      const entries: ManifestEntry[] = [];
      for (let i = 0; i < n; i++, at += 36) {
        const rawLength = view.getUint32(at + 32);
        if (rawLength < 1 || rawLength > CHUNK_MAX) throw bad(`raw length ${rawLength} outside 1..${CHUNK_MAX}`);
        entries.push({ id: bytes.slice(at, at + 32), rawLength });
      }
      ops.push({ kind: "new", entries });
    } else {
      throw bad(`unknown op 0x${(kind ?? 0).toString(16)}`);
    }
  }
  return { firstIndex, count, ops };
}
