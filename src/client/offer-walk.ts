// The offer's walk of a source: its digest for the fingerprint, or where it first differs from the last archive.
import type { Segment, SegmentCursor } from "../archive/stream-map.ts";
import { TreeWalk, YIELD_EVERY } from "./tree-walk.ts";
import type { WalkedEntry } from "./walked-entries.ts";

export interface WalkResult {
  /**
   * Hex EntryDigest of the walked entries: what the source's fingerprint is made from. Null when the
   * walk stopped at the first entry that differs from the last archive's (LastWalk): changed.
   */
  digest: string | null;
  /** Entries walked, the source itself included. */
  count: number;
  /**
   * The tar stream's size, near enough for a progress bar: a header per entry, contents padded to 512,
   * two end blocks; the last archive's stream size when the walk stopped early.
   */
  tarBytes: number;
  /** Things left out, one line each: "/path (socket)", "/path (vanished while walking)", ... */
  skipped: string[];
}

/** The last archive's entries for a walk to compare with as it goes (client/source-index), handed over to it to close. */
export interface LastWalk {
  /** Its segments in order: the walk's n-th entry changed when its tar header's size or mtime is not the n-th segment's. */
  segments: SegmentCursor;
  /** Its tar stream's size. */
  streamBytes: number;
  close(): void;
}

/**
 * Walks the source once for its digest, its size estimate and what it leaves out (see TreeWalk),
 * holding nothing per entry. With `last`, stops at the first entry whose size or mtime is not the
 * last archive's entry's in the same place (digest null): its fingerprint line differs, so the
 * source's fingerprint cannot match, and a changed source is walked again as it is uploaded. (A
 * change that moves neither, a ctime or an owner, is found by the whole walk's digest as before.)
 * Closes `last`. Throws as TreeWalk does.
 */
export async function walkSource(sourcePath: string, exclude: readonly string[], last?: LastWalk): Promise<WalkResult> {
  try {
    const walk = await TreeWalk.open(sourcePath, exclude);
    let tarBytes = 2 * 512;
    for (;;) {
      const entry = walk.nextNow();
      if (!entry) break;
      if (last && movedSince(last.segments.next(), entry)) {
        return { digest: null, count: walk.count, tarBytes: last.streamBytes, skipped: walk.skipped };
      }
      tarBytes += 512 + Math.ceil(entry.size / 512) * 512;
      if (walk.count % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return { digest: walk.digest(), count: walk.count, tarBytes, skipped: walk.skipped };
  } finally {
    last?.close();
  }
}

/** True when `entry` surely is not `old` (the last archive's entry in its place; null: it had no more): their size or mtime differ. */
function movedSince(old: Segment | null, entry: WalkedEntry): boolean {
  if (!old) return true;
  return old.header !== undefined && (old.header.size !== entry.size || old.header.mtime !== entry.mtime);
}
