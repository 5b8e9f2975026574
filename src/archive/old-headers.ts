// Deltas that see through a moved size or mtime: a changed chunk's tar headers put back as they were, to find the old blocks.
import { TAR_BLOCK, rewriteSizeAndMtime } from "./tar.ts";
import type { DeltaPiece } from "./chunk-delta.ts";
import type { HeaderTimes } from "./stream-map.ts";

/** A ustar header block lying whole in a chunk, at offset `at`, with the size and mtime its entry had in the last archive. */
export interface OldHeader extends HeaderTimes {
  at: number;
}

/**
 * A copy of `raw` with each header of `headers` rewritten with its old size and mtime (and checksum):
 * the chunk as the last archive had it where nothing else moved. Null when that changes no byte.
 * `into` (at least raw.length bytes): the copy is written there and a view of it returned, so that a
 * caller patching chunk after chunk allocates nothing (each copy was a fresh 64-256 KiB buffer).
 */
export function withOldHeaders(raw: Uint8Array, headers: readonly OldHeader[], into?: Uint8Array): Uint8Array | null {
  const patched = into ? into.subarray(0, raw.length) : new Uint8Array(raw.length);
  patched.set(raw);
  let moved = false;
  for (const h of headers) {
    const block = patched.subarray(h.at, h.at + TAR_BLOCK);
    rewriteSizeAndMtime(block, h.size, h.mtime);
    // the copy differs from raw only inside the headers rewritten
    for (let i = 0; i < block.length && !moved; i++) moved = block[i] !== raw[h.at + i];
  }
  return moved ? patched : null;
}

/**
 * `pieces` describe `patched` (withOldHeaders of `raw`); returns pieces that describe `raw`: every copy
 * split where the two differ, those bytes sent literal, adjacent literal runs merged.
 */
export function piecesOfRaw(pieces: readonly DeltaPiece[], raw: Uint8Array, patched: Uint8Array): DeltaPiece[] {
  const out: DeltaPiece[] = [];
  const literal = (start: number, length: number) => {
    const last = out.at(-1);
    if (last && "literal" in last && last.literal.start + last.literal.length === start) last.literal.length += length;
    else out.push({ literal: { start, length } });
  };
  let at = 0;
  for (const p of pieces) {
    if ("literal" in p) {
      literal(p.literal.start, p.literal.length);
      at += p.literal.length;
      continue;
    }
    const { id, offset, length } = p.copy;
    let from = 0;
    for (const [s, e] of differences(raw, patched, at, length)) {
      if (s > from) out.push({ copy: { id, offset: offset + from, length: s - from } });
      literal(at + s, e - s);
      from = e;
    }
    if (length > from) out.push({ copy: { id, offset: offset + from, length: length - from } });
    at += length;
  }
  return out;
}

/** A COPY op takes 41 bytes: equal stretches shorter than this between two differences go literal with them. */
const MIN_COPY = 48;

/** The ranges of [at, at + length) where `raw` and `patched` differ, relative to `at`, merged across short equal gaps. */
function differences(raw: Uint8Array, patched: Uint8Array, at: number, length: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let i = 0; i < length; i++) {
    if (patched[at + i] === raw[at + i]) continue;
    const last = ranges.at(-1);
    if (last && i - last[1] < MIN_COPY) last[1] = i + 1;
    else ranges.push([i, i + 1]);
  }
  return ranges;
}
