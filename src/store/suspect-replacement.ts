// Pure: does a new archive of a name look like an encrypted replacement of its predecessor (ransomware)?
//
// Two figures the server has for free in the index, per member: chunk id, compressed and raw length.
// - shared: the share of the new archive's raw bytes in chunks the predecessor also has. Encrypting
//   every file changes every chunk, so it drops to ~0. (It drops to 0 too for a source of small files
//   of which half changed: chunks span many files; so it is a gate, never the verdict on its own.)
// - ratio: compressed / raw bytes of an archive, the entropy measure. Encrypted data does not
//   compress, so the new ratio jumps towards 1; tar headers and padding inside the tree still
//   compress, so a tree of small files lands lower (see the thresholds below).
// Suspect = shared < maxShared AND newRatio - previousRatio >= ratioJump AND newRatio >= minRatio
// AND the raw size stayed within SIZE_BAND of the predecessor's: encryption keeps sizes (AES-CTR
// exactly, ransomware adds a header or a note), while a small text source that gains a large
// incompressible file (a new ISO, a VM image) grows many times over and is not a replacement.
// A tree of media or zips (ratio ~1.0 already) never jumps: its replacement, legitimate or encrypted,
// is not seen by this rule (a limitation docs/storage.md states).
//
// Measured on real trees built by the client's archive builder (gzip level 6, 64 KiB chunks):
//   200 text files of 1-6 KB   normal ratio 0.17, encrypted with AES-CTR 0.82 (shared 0.00)
//   2000 text files of 0.5-3 KB                0.15,                      0.70
//   200 text files of 50-400 B                 0.07,                      0.24 (headers and padding dominate)
//   50 text files of 20-200 KB                 0.20,                      0.99
//   text tree + 5 zip files                    0.62,                      0.91
//   half the files rewritten / all rewritten: shared 0.00-0.23, ratio moves by < 0.01
//   30 random-content "JPEGs", re-created, lightly changed or all new: ratio 0.999 before and after
import { DEFAULT_SUSPECT } from "../config/build-config.ts";
import type { SuspectRules } from "../config/model.ts";
import type { MemberRecord } from "./index-entry.ts";

export type { SuspectRules } from "../config/model.ts";

export const DEFAULT_SUSPECT_RULES: SuspectRules = DEFAULT_SUSPECT;

/** A replacement is suspect only when its raw size is within this factor of its predecessor's (either way). */
export const SIZE_BAND = 2;

/** The figures behind a verdict, kept in the hold file and shown to users. */
export interface ReplacementFigures {
  /** Share (0..1) of the new archive's raw bytes in chunks the predecessor has. */
  shared: number;
  /** compressed / raw of the predecessor and of the new archive. */
  previousRatio: number;
  newRatio: number;
}

export interface ReplacementVerdict extends ReplacementFigures {
  suspect: boolean;
  /** One line for logs and the client: "shares 0% of its predecessor's data, compression ratio 0.17 → 0.82: looks encrypted". */
  reason: string;
}

/** Sums over two archives' members that a verdict is made of (the index adds them up without loading a member). */
export interface ReplacementTotals {
  previousRaw: number;
  previousPacked: number;
  nextRaw: number;
  nextPacked: number;
  /** Raw bytes of the new archive's members whose chunk the predecessor also has. */
  sharedRaw: number;
}

/**
 * Judges `next` (the new archive's members) against `previous` (its predecessor's). Members are
 * [chunk id hex, offset, compressed length, raw length]. An empty archive on either side is never
 * suspect. Throws nothing.
 */
export function judgeReplacement(
  previous: readonly MemberRecord[],
  next: readonly MemberRecord[],
  rules: SuspectRules,
): ReplacementVerdict {
  const before = new Set<string>();
  let previousRaw = 0;
  let previousPacked = 0;
  for (const [id, , length, raw] of previous) {
    before.add(id);
    previousRaw += raw;
    previousPacked += length;
  }
  let nextRaw = 0;
  let nextPacked = 0;
  let sharedRaw = 0;
  for (const [id, , length, raw] of next) {
    nextRaw += raw;
    nextPacked += length;
    if (before.has(id)) sharedRaw += raw;
  }
  return judgeTotals({ previousRaw, previousPacked, nextRaw, nextPacked, sharedRaw }, rules);
}

/** judgeReplacement from the members' sums. */
export function judgeTotals(totals: ReplacementTotals, rules: SuspectRules): ReplacementVerdict {
  const { previousRaw, previousPacked, nextRaw, nextPacked, sharedRaw } = totals;
  const figures: ReplacementFigures = {
    shared: nextRaw > 0 ? sharedRaw / nextRaw : 1,
    previousRatio: previousRaw > 0 ? previousPacked / previousRaw : 0,
    newRatio: nextRaw > 0 ? nextPacked / nextRaw : 0,
  };
  const suspect =
    previousRaw > 0 &&
    nextRaw > 0 &&
    figures.shared < rules.maxShared &&
    figures.newRatio - figures.previousRatio >= rules.ratioJump &&
    figures.newRatio >= rules.minRatio &&
    nextRaw <= previousRaw * SIZE_BAND &&
    nextRaw * SIZE_BAND >= previousRaw;
  return { ...figures, suspect, reason: describeFigures(figures) + (suspect ? ": looks encrypted" : "") };
}

/** "shares 0% of its predecessor's data, compression ratio 0.17 → 0.82". */
export function describeFigures(f: ReplacementFigures): string {
  const pct = f.shared > 0 && f.shared < 0.01 ? "<1" : String(Math.round(f.shared * 100));
  return `shares ${pct}% of its predecessor's data, compression ratio ${f.previousRatio.toFixed(2)} → ${f.newRatio.toFixed(2)}`;
}
