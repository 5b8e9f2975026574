// The tar entries the builder holds between its position and how far it looked ahead, each placed in the last archive's stream.
import { SegmentPlacer, type PlacedSegment, type Placement, type Segment, type SegmentQueue } from "../archive/stream-map.ts";
import { TAR_TRAILER, tarHeaderLength, tarPadding } from "../archive/tar.ts";
import { HashRelayError } from "../errors.ts";
import type { BuildEntry } from "./tar-content.ts";

/** The entries to archive, in order (sorted with compareTarPaths, as a TreeWalk gives them); null after the last. */
export interface EntrySource<E extends BuildEntry = BuildEntry> {
  next(): Promise<E | null>;
}

/** An EntrySource over entries already in memory (tests, and callers holding a few). */
export function entrySourceOf<E extends BuildEntry>(entries: readonly E[]): EntrySource<E> {
  let at = 0;
  return { next: async () => entries[at++] ?? null };
}

/** A placed segment with what produces its bytes: its entry (null for the trailer); the header is made when the bytes are. */
export interface HeldSegment extends PlacedSegment {
  entry: BuildEntry | null;
}

const NOWHERE: Placement = { old: -1, oldLength: 0, known: false, at: 0 };
const utf8 = new TextEncoder();

/**
 * Pulls entries from `entries` as the builder asks for them and holds them until the stream has
 * passed them: memory for the entries between the position being produced and the furthest one a
 * fast-forward looked at (at most the entries within one old chunk past the position), not per entry
 * of the source. Each pulled entry's segment goes to `onSegment` (with its key from `keyOf`) and is
 * placed against the last archive's segments when `placer` is given; the trailer closes the stream.
 */
export class SegmentHolder<E extends BuildEntry> implements SegmentQueue {
  private readonly held: HeldSegment[] = [];
  private pulled = 0;
  private end = 0;
  private ended = false;

  constructor(
    private readonly entries: EntrySource<E>,
    private readonly placer: SegmentPlacer | null,
    private readonly keyOf: ((entry: E) => Uint8Array) | undefined,
    private readonly onSegment: ((segment: Segment) => void) | undefined,
  ) {}

  /** Segment `seq`, pulling entries up to it; null past the trailer. Throws INTERNAL for one already released. */
  async segment(seq: number): Promise<HeldSegment | null> {
    while (this.pulled <= seq) if (!(await this.pull())) return null;
    const first = this.pulled - this.held.length;
    if (seq < first) throw new HashRelayError("INTERNAL", `segment ${seq} was released (holding from ${first})`);
    return this.held[seq - first]!;
  }

  /** The segment holding stream position `p`, after releasing those that end at or before it; null past the end. */
  async holding(p: number): Promise<HeldSegment | null> {
    this.release(p);
    return this.segment(this.pulled - this.held.length);
  }

  /** Forgets the segments that end at or before position `p`. */
  release(p: number): void {
    let n = 0;
    while (n < this.held.length && this.held[n]!.start + this.held[n]!.length <= p) n++;
    if (n > 0) this.held.splice(0, n);
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const entry = await this.entries.next();
    let segment: HeldSegment;
    if (entry) {
      const length = tarHeaderLength(entry) + (entry.type === "file" ? entry.size + tarPadding(entry.size) : 0);
      let placement = NOWHERE;
      if (this.keyOf) {
        const path = utf8.encode(entry.path);
        const key = this.keyOf(entry);
        this.onSegment?.({ path, key, length, header: { size: entry.size, mtime: entry.mtime } });
        if (this.placer) placement = this.placer.place(path, key, length);
      }
      segment = { seq: this.pulled, start: this.end, length, placement, entry };
    } else {
      this.ended = true;
      const placement = this.placer ? this.placer.placeTrailer(TAR_TRAILER.length) : NOWHERE;
      segment = { seq: this.pulled, start: this.end, length: TAR_TRAILER.length, placement, entry: null };
    }
    this.held.push(segment);
    this.pulled++;
    this.end += segment.length;
    return true;
  }
}
