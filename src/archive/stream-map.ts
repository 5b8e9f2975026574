// Where each entry of a new tar stream stood in the last archive's, and which of its chunks a new build may take unread.
import { compareTarPathBytes } from "./tar.ts";

/** Bytes of a segment key: enough that two different keys of one path never look equal. */
export const SEGMENT_KEY_BYTES = 16;

/** One tar entry's bytes in a stream (header, content and padding). `key` changes whenever those bytes may. */
export interface Segment {
  /** The entry's path, UTF-8. */
  path: Uint8Array;
  key: Uint8Array;
  length: number;
  /** The size and mtime its tar header holds (absent for segments recorded without them). */
  header?: HeaderTimes;
}

/** An entry's size and mtime: with them the next backup rebuilds the header of an entry where only they moved. */
export interface HeaderTimes {
  size: number;
  mtime: number;
}

/** The last archive's segments, in stream order (paths ascending in compareTarPaths order). */
export interface SegmentCursor {
  /** The next segment, or null after the last; a segment given out may be reused by the next call. */
  next(): Segment | null;
}

/** Where a segment of the new stream stands in the last archive's stream. */
export interface Placement {
  /** Old start of the segment with the same path, or -1 when the last archive had no such path. */
  old: number;
  /** Its old length (0 when `old` is -1). */
  oldLength: number;
  /** Same path, key and length: the same bytes as in the last archive. */
  known: boolean;
  /** Where the segment sits in the old stream: its old start, or where it would have been. */
  at: number;
  /** Same path, other key or length: the size and mtime its old header held, when recorded. */
  oldHeader?: HeaderTimes;
}

/** A segment of the new stream with its place in both streams; `seq` counts segments from 0. */
export interface PlacedSegment {
  seq: number;
  start: number;
  length: number;
  placement: Placement;
}

/**
 * Places the new stream's segments, in order, against the last archive's (a merge of two sorted
 * lists: both streams list their entries in compareTarPaths order). Reads the old segments once,
 * front to back, and holds one of them.
 */
export class SegmentPlacer {
  private current: Segment | null;
  private position = 0;

  constructor(private readonly old: SegmentCursor) {
    this.current = old.next();
  }

  /** The placement of the next new segment; paths must come in compareTarPaths order. */
  place(path: Uint8Array, key: Uint8Array, length: number): Placement {
    while (this.current && compareTarPathBytes(this.current.path, path) < 0) this.skip();
    const same = this.current !== null && compareTarPathBytes(this.current.path, path) === 0;
    if (!same) return { old: -1, oldLength: 0, known: false, at: this.position };
    const old = this.current!;
    const placement: Placement = {
      old: this.position,
      oldLength: old.length,
      known: old.length === length && equalBytes(old.key, key),
      at: this.position,
    };
    // copied: the cursor may reuse the old segment's object
    if (!placement.known && old.header) placement.oldHeader = { size: old.header.size, mtime: old.header.mtime };
    this.skip();
    return placement;
  }

  /** The placement of the trailer (TAR_TRAILER, after every entry): the old trailer follows every old segment. */
  placeTrailer(length: number): Placement {
    while (this.current) this.skip();
    return { old: this.position, oldLength: length, known: true, at: this.position };
  }

  private skip(): void {
    this.position += this.current!.length;
    this.current = this.old.next();
  }
}

/** The old stream position that byte `within` of a placed segment corresponds to (where the segment would be, when new). */
export function oldPositionOf(placement: Placement, within: number): number {
  return placement.old < 0 ? placement.at : placement.old + Math.min(within, placement.oldLength);
}

/** The last archive's chunks, as fastForward reads them. */
export interface OldChunks {
  readonly count: number;
  rawLength(index: number): number;
  /** The index of the chunk starting at old position `at`, or -1 when none does. Positions asked only grow. */
  seek(at: number): number;
}

/** The new stream's placed segments as the builder holds them. */
export interface SegmentQueue {
  /** Placed segment `seq` (pulled from the walk when needed), or null past the last; never one before a segment already passed. */
  segment(seq: number): Promise<PlacedSegment | null>;
}

/**
 * When a chunker stands fresh at new position `p` inside `holding` (the placed segment holding p), and
 * that is a known segment at a chunk boundary of the last archive, content-defined chunking would cut
 * the last archive's chunks again for as long as they lie within the run of known segments that
 * follow each other there as they did in the last archive. Hands each such chunk to `take` (its old
 * index and the new position after it), in order, and returns the new position after the last one,
 * or null when there is none. Trusts the keys: unchanged metadata, ctime included, means unchanged bytes.
 * The old stream's last chunk was cut by its end: it fits only in a run that ends with the trailer.
 */
export async function fastForward(
  p: number,
  holding: PlacedSegment,
  queue: SegmentQueue,
  chunks: OldChunks,
  take: (index: number, endNew: number) => Promise<void>,
): Promise<number | null> {
  if (!holding.placement.known) return null;
  const oldP = holding.placement.old + (p - holding.start);
  const first = chunks.seek(oldP);
  if (first < 0) return null;
  let last = holding;
  let runEnd = holding.placement.old + holding.length;
  let at = oldP;
  let i = first;
  for (; i < chunks.count; i++) {
    const end = at + chunks.rawLength(i);
    while (runEnd < end) {
      const next = await queue.segment(last.seq + 1);
      if (!next || !next.placement.known || next.placement.old !== runEnd) break;
      last = next;
      runEnd += next.length;
    }
    if (runEnd < end) break;
    at = end;
    await take(i, p + (at - oldP));
  }
  return i > first ? p + (at - oldP) : null;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
