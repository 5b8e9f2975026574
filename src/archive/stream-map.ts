// Which stretches of a new tar stream are byte-identical to the last archive's, so their chunks need not be read again.
import type { ManifestEntry } from "./manifest.ts";

/** One tar entry's bytes in a stream: header, content and padding. `key` changes whenever those bytes may. */
export interface Segment {
  path: string;
  key: string;
  length: number;
}

export interface FastForward {
  /** Old chunks to reuse as they are, in order. */
  chunks: ManifestEntry[];
  /** New stream position right after them. */
  endNew: number;
}

/**
 * Built from the last archive's segments and chunks and the new stream's segments. A stretch of
 * the new stream is "known" when it is a run of segments with the same path and key, in the same
 * order and back to back, as in the last archive. When the new chunker stands at a boundary that
 * maps to a boundary of the last archive inside such a run, content-defined chunking would cut the
 * same chunks again until the run ends: fastForward returns them, and the bytes need not be read.
 * (It trusts the key: unchanged metadata, ctime included, is taken to mean unchanged content.)
 */
export class StreamMap {
  private readonly starts: number[] = [];
  private readonly oldStarts: number[] = [];
  private readonly runEnd: number[] = [];
  private readonly chunkStarts: number[] = [];

  constructor(
    previous: readonly Segment[],
    private readonly previousChunks: readonly ManifestEntry[],
    next: readonly Segment[],
  ) {
    const oldAt = new Map<string, { key: string; offset: number; length: number }>();
    let offset = 0;
    for (const s of previous) {
      oldAt.set(s.path, { key: s.key, offset, length: s.length });
      offset += s.length;
    }
    let position = 0;
    for (const s of next) {
      this.starts.push(position);
      const old = oldAt.get(s.path);
      this.oldStarts.push(old !== undefined && old.key === s.key && old.length === s.length ? old.offset : -1);
      position += s.length;
    }
    this.starts.push(position);
    // runEnd[k]: new position where the run of back-to-back known segments holding k ends.
    let runStop = -1;
    for (let k = next.length - 1; k >= 0; k--) {
      this.runEnd[k] = -1;
      if (this.oldStarts[k]! < 0) {
        runStop = -1;
        continue;
      }
      if (runStop < 0) runStop = this.starts[k + 1]!;
      this.runEnd[k] = runStop;
      const before = k > 0 ? this.oldStarts[k - 1]! : -1;
      if (before < 0 || before + next[k - 1]!.length !== this.oldStarts[k]) runStop = -1;
    }
    let c = 0;
    for (const chunk of previousChunks) {
      this.chunkStarts.push(c);
      c += chunk.rawLength;
    }
  }

  /** Total length of the new stream. */
  get length(): number {
    return this.starts.at(-1)!;
  }

  /** Segment index holding new position p (p < length), by binary search. */
  segmentAt(p: number): number {
    let lo = 0;
    let hi = this.starts.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= p) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  segmentStart(k: number): number {
    return this.starts[k]!;
  }

  /** The old chunks that a chunker standing fresh at new position p would cut again, or null. */
  fastForward(p: number): FastForward | null {
    if (p >= this.length) return null;
    const k = this.segmentAt(p);
    const oldStart = this.oldStarts[k]!;
    if (oldStart < 0) return null;
    const oldP = oldStart + (p - this.starts[k]!);
    const endOld = oldP + (this.runEnd[k]! - p);
    const first = lowerBound(this.chunkStarts, oldP);
    if (first >= this.chunkStarts.length || this.chunkStarts[first] !== oldP) return null;
    const chunks: ManifestEntry[] = [];
    let at = oldP;
    for (let i = first; i < this.previousChunks.length; i++) {
      const chunk = this.previousChunks[i]!;
      if (at + chunk.rawLength > endOld) break;
      // The old stream's last chunk was cut by its end, not by its content: reusable only where the new stream ends too.
      if (i === this.previousChunks.length - 1 && p + (at + chunk.rawLength - oldP) !== this.length) break;
      chunks.push(chunk);
      at += chunk.rawLength;
    }
    return chunks.length ? { chunks, endNew: p + (at - oldP) } : null;
  }
}

function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
