// The manifest of an upload's base read from the chunk index a page at a time: diff pages copy runs of it, and none is held whole.
import type { ManifestEntry } from "../archive/manifest.ts";
import type { BaseEntries } from "../archive/manifest-diff.ts";
import type { ChunkIndex } from "./chunk-index.ts";

/** Entries read per page (a diff page copies runs of consecutive base entries: the next is mostly in the page read last). */
const PAGE = 16_384;
/** A base this small also answers "stored?" from a set of its ids (no index probe per entry); a larger one is probed. */
const KNOWN_STORED_MAX = 1 << 18;

/** The members of stored archive (client, file) as manifest entries, read on demand. */
export class IndexedBase implements BaseEntries {
  readonly length: number;
  private page: { first: number; entries: ManifestEntry[] } | null = null;

  constructor(
    private readonly index: ChunkIndex,
    private readonly client: string,
    private readonly file: string,
  ) {
    this.length = index.memberCount(client, file);
  }

  /** Entry `i`, or undefined outside 0..length-1. Reads the page holding it when it is not the page read last. */
  at(i: number): ManifestEntry | undefined {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) return undefined;
    if (!this.page || i < this.page.first || i >= this.page.first + this.page.entries.length) {
      const first = i - (i % PAGE);
      const entries = this.index
        .memberPage(this.client, this.file, first, PAGE)
        .map((m) => ({ id: new Uint8Array(Buffer.from(m.id, "hex")), rawLength: m.rawLength }));
      this.page = { first, entries };
    }
    return this.page.entries[i - this.page.first];
  }

  /** The hex ids of its chunks when it has at most 2^18 of them, else null (the upload then asks the index). */
  knownStored(): Set<string> | null {
    if (this.length > KNOWN_STORED_MAX) return null;
    const ids = new Set<string>();
    for (let first = 0; first < this.length; first += PAGE)
      for (const m of this.index.memberPage(this.client, this.file, first, PAGE)) ids.add(m.id);
    return ids;
  }
}
