// A manifest page written as runs copied from a base manifest both sides hold, plus the entries that are new.
import { HashRelayError } from "../errors.ts";
import { chunkIdHex, type ManifestEntry } from "./manifest.ts";

/**
 * One op of a diff: base entries copied, entries given whole, or (version 4) entries derived from the
 * base by a delta, given by their raw lengths alone: their ids are those of the bytes that arrive.
 */
export type DiffOp =
  | { kind: "copy"; baseIndex: number; count: number }
  | { kind: "new"; entries: ManifestEntry[] }
  | { kind: "derived"; rawLengths: number[] };

/** The id a derived entry has until its chunk arrives: all zeros, which is no chunk's SHA-256 short of a preimage. */
export const UNKNOWN_ID = new Uint8Array(32);

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
 * any other is derived when `derived(k)` says its chunk will travel as a delta (version 4), else
 * new. Deterministic; expandDiff(diffAgainstBase(e, b), b) equals e but for the derived entries' ids.
 */
export function diffAgainstBase(
  entries: readonly ManifestEntry[],
  base: BaseLookup,
  derived: (k: number) => boolean = () => false,
): DiffOp[] {
  const ops: DiffOp[] = [];
  let run: { kind: "copy"; baseIndex: number; count: number } | null = null;
  let last: DiffOp | null = null;
  for (const [k, entry] of entries.entries()) {
    if (run && base.matchesAt(run.baseIndex + run.count, entry)) {
      run.count++;
      continue;
    }
    const at = base.indexOf(entry.id);
    if (at >= 0 && base.matchesAt(at, entry)) {
      run = { kind: "copy", baseIndex: at, count: 1 };
      last = run;
      ops.push(run);
      continue;
    }
    run = null;
    const kind = derived(k) ? "derived" : "new";
    if (last?.kind !== kind) {
      last = kind === "derived" ? { kind, rawLengths: [] } : { kind, entries: [] };
      ops.push(last);
    }
    if (last.kind === "derived") last.rawLengths.push(entry.rawLength);
    else if (last.kind === "new") last.entries.push(entry);
  }
  return ops;
}

/** The base manifest entries a diff copies from: an array, or one read a page at a time (the server's, from its index). */
export interface BaseEntries {
  readonly length: number;
  at(index: number): ManifestEntry | undefined;
}

/**
 * The entries `ops` describe, a derived one with UNKNOWN_ID (`derived`: their places in the page, in
 * order); throws BAD_FRAME when a copy leaves the base or the count is not `expected`.
 */
export function expandDiff(ops: readonly DiffOp[], base: BaseEntries, expected: number): { entries: ManifestEntry[]; derived: number[] } {
  const out: ManifestEntry[] = [];
  const derived: number[] = [];
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
    } else if (op.kind === "new") {
      out.push(...op.entries);
    } else {
      for (const rawLength of op.rawLengths) {
        derived.push(out.length);
        out.push({ id: UNKNOWN_ID, rawLength });
      }
    }
    if (out.length > expected) break;
  }
  if (out.length !== expected)
    throw new HashRelayError("BAD_FRAME", `manifest diff describes ${out.length}+ entries, the page announces ${expected}`);
  return { entries: out, derived };
}
