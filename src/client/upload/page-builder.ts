// Manifest pages as the client fills them, and the thresholds at which a page goes out.
import { IDLE_TIMEOUT_MS, MANIFEST_PAGE_ENTRIES } from "../../protocol/constants.ts";
import type { OldHeader } from "../../archive/old-headers.ts";
import type { ManifestEntry } from "../../protocol/binary-frames.ts";
import type { ChunkWork } from "../chunk-workers.ts";

/**
 * Raw bytes of chunks kept in memory before a page is offered: the client's memory bound for one
 * archive is this window plus one chunk being built (CHUNK_MAX) plus one read buffer (1 MiB).
 */
export const PAGE_WINDOW_BYTES = 8 * 1024 * 1024;
/**
 * A page also goes out once the chunks it read from the source cover this many bytes of the tar
 * stream, kept or not: chunks found in the base are not kept, and the server writes the new archive
 * ahead from pages it has (Upload's write ahead), so a re-read 200 MiB image must not ride in one
 * last page. Chunks taken unread from the last archive (an unchanged stretch fast-forwarded) do not
 * count: they come in microseconds, and counting them cost a round trip per 16 MiB of an unchanged
 * source (218 NEEDs for a one-line edit of a 3.3 GiB tree).
 */
export const PAGE_SPAN_BYTES = 16 * 1024 * 1024;
/**
 * Entries a page holds at most (below the protocol's MANIFEST_PAGE_ENTRIES): what bounds a page of
 * chunks taken unread, whose entries cost ~200 bytes of client memory each. 2,048 keeps two pages
 * under 1 MiB; 16,384 put ~6 MiB on a one-line edit's peak RSS at 3.3 GiB, for 14 fewer turns.
 */
export const PAGE_MAX_ENTRIES = Math.min(2048, MANIFEST_PAGE_ENTRIES);
/** A page also goes out when building it took this long (slow disk), so the server never sees an idle session. */
const PAGE_MAX_AGE_MS = IDLE_TIMEOUT_MS / 2;

/**
 * What a page holds of one chunk until the server's NEED for it: nothing (not read, or in the base the
 * server holds: `from` is its index there), a copy of its raw bytes (with its index in the last archive
 * or -1, and the stretch of the last archive's stream it corresponds to), or the worker job started as
 * it was cut (`early`: it will almost surely travel whole, and the workers compress it while the page
 * is offered).
 */
export type KeptChunk =
  | { kind: "none"; from: number }
  | { kind: "raw"; raw: Uint8Array; from: number; oldSpan: { lo: number; hi: number } | null; oldHeaders?: readonly OldHeader[] }
  | { kind: "early"; job: Promise<ChunkWork> };

/** One manifest page being filled or on its way: its entries, what is kept of each, from index `first`. */
export class OutgoingPage {
  readonly entries: ManifestEntry[] = [];
  readonly kept: KeptChunk[] = [];
  /** Raw bytes kept (copied or with a worker): the window. */
  bytes = 0;
  /** Bytes of the tar stream the entries read from the source cover, kept or not (fast-forwarded ones are not counted). */
  span = 0;
  readonly startedAt = Date.now();

  constructor(readonly first: number) {}

  get next(): number {
    return this.first + this.entries.length;
  }

  /** Whether the page must go out now. */
  get full(): boolean {
    return (
      this.bytes >= PAGE_WINDOW_BYTES ||
      this.span >= PAGE_SPAN_BYTES ||
      this.entries.length >= PAGE_MAX_ENTRIES ||
      Date.now() - this.startedAt > PAGE_MAX_AGE_MS
    );
  }
}

/** Fills pages in archive order; owns the page being filled. */
export class PageBuilder {
  private page = new OutgoingPage(0);

  /**
   * Adds one chunk's entry with what is kept of it (`keptBytes` raw bytes); `read`: whether the chunk
   * was read from the source (false when taken unread from the last archive). Returns the page when
   * this chunk filled it (the next page starts now, its age too), else null.
   */
  add(entry: ManifestEntry, kept: KeptChunk, keptBytes: number, read = true): OutgoingPage | null {
    const page = this.page;
    page.entries.push(entry);
    page.kept.push(kept);
    if (read) page.span += entry.rawLength;
    page.bytes += keptBytes;
    if (!page.full) return null;
    this.page = new OutgoingPage(page.next);
    return page;
  }

  /** The last page, at the end of the source; null when it has no entries (there is no page for an empty archive). */
  last(): OutgoingPage | null {
    const page = this.page;
    if (page.entries.length === 0) return null;
    this.page = new OutgoingPage(page.next);
    return page;
  }
}
