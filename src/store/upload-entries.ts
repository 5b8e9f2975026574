// The manifest entries of one upload as its pages arrive: ids, raw lengths, the running archive id, and what each entry still needs.
import { HashRelayError } from "../errors.ts";
import { ArchiveIdHasher, encodeManifestEntries, type ManifestEntry } from "../archive/manifest.ts";
import { planPage, type ChunkNeed } from "../archive/need-plan.ts";
import { CHUNK_MAX, MANIFEST_ENTRY_BYTES, MANIFEST_PAGE_ENTRIES, MAX_CHUNKS_PER_ARCHIVE } from "../protocol/constants.ts";

// Per-entry state.
const HAVE = 0; // the client's stored archives or its staging pool have it
const NEEDED = 1; // asked for, not received yet
const RECEIVED = 2; // verified; its member is being made or written to the staging file
const REPEAT = 3; // a repeat of an earlier entry of this upload whose chunk is not stored yet

/**
 * The entries of one archive's manifest, in order. Kept in flat typed arrays (an archive may have
 * up to MAX_CHUNKS_PER_ARCHIVE entries); an entry index is only valid below `count`.
 */
export class UploadEntries {
  private readonly hasher = new ArchiveIdHasher();
  private ids = new Uint8Array(0);
  private rawLengths = new Uint32Array(0);
  private states = new Uint8Array(0);
  private received = 0;
  private raw = 0;
  private asked = 0;
  /** id hex → first index, for the ids asked for (see planPage). */
  private readonly pending = new Map<string, number>();
  private readonly repeatOf = new Map<number, number>();
  /** Derived entries (PROTOCOL.md §8.5) whose chunk has not arrived: their ids are not known yet. */
  private readonly unknownIds = new Set<number>();
  /** Entries fed to the archive id hasher: every one before the first whose id is not known. */
  private hashed = 0;

  /** `name`: the source's name, for messages. */
  constructor(private readonly name: string) {}

  /** Entries received so far. */
  get count(): number {
    return this.received;
  }

  /** Sum of their raw lengths. */
  get rawTotal(): number {
    return this.raw;
  }

  /** Entries asked for whose chunk has not arrived. */
  get missing(): number {
    return this.asked;
  }

  /**
   * Hex SHA-256 of the canonical manifest of the entries so far (the archive id once all are in). May be
   * called once. Throws BAD_FRAME while a derived entry's chunk has not arrived (its id is not known).
   */
  archiveId(): string {
    if (this.hashed < this.received) {
      throw new HashRelayError(
        "BAD_FRAME",
        `${this.unknownIds.size} chunk(s) of ${this.name} asked for never arrived (first: ${this.hashed})`,
      );
    }
    return this.hasher.digest();
  }

  /**
   * Adds entries [firstIndex, firstIndex + entries.length) and returns what each needs (planPage):
   * `have(entry, idHex)` says where the client already has a chunk, or null. `derived`: the page
   * places of derived entries (always needed; their ids come with their chunks, setId). Pages must come
   * in order. Throws BAD_FRAME on an out-of-order or oversized page or a malformed entry (nothing is
   * added then), and what `have` throws.
   */
  addPage<Place>(
    firstIndex: number,
    entries: readonly ManifestEntry[],
    have: (entry: ManifestEntry, idHex: string) => Place | null,
    derived: readonly number[] = [],
  ): ChunkNeed<Place>[] {
    this.checkPage(firstIndex, entries);
    this.grow(firstIndex + entries.length);
    const needs = planPage(firstIndex, entries, have, this.pending, new Set(derived));
    for (const k of derived) this.unknownIds.add(firstIndex + k);
    for (const [k, need] of needs.entries()) {
      const i = firstIndex + k;
      this.ids.set(entries[k]!.id, i * 32);
      this.rawLengths[i] = entries[k]!.rawLength;
      this.raw += entries[k]!.rawLength;
      if (need.kind === "have") this.states[i] = HAVE;
      else if (need.kind === "repeat") {
        this.states[i] = REPEAT;
        this.repeatOf.set(i, need.of);
      } else {
        this.states[i] = NEEDED;
        this.asked++;
      }
    }
    this.received += entries.length;
    this.hashKnown();
    return needs;
  }

  /** True when entry `i` is derived and its chunk has not arrived: its id is not known yet. */
  idUnknown(i: number): boolean {
    return this.unknownIds.has(i);
  }

  /** Derived entry `i`'s id, from the chunk that arrived for it (SHA-256 of its raw bytes). */
  setId(i: number, id: Uint8Array): void {
    this.ids.set(id, i * 32);
    this.unknownIds.delete(i);
    this.hashKnown();
  }

  /** Feeds the archive id hasher every entry from `hashed` on up to the first whose id is not known. */
  private hashKnown(): void {
    let end = this.hashed;
    while (end < this.received && !this.unknownIds.has(end)) end++;
    if (end === this.hashed) return;
    const encoded = new Uint8Array((end - this.hashed) * MANIFEST_ENTRY_BYTES);
    const view = new DataView(encoded.buffer);
    for (let i = this.hashed, at = 0; i < end; i++, at += MANIFEST_ENTRY_BYTES) {
      encoded.set(this.id(i), at);
      view.setUint32(at + 32, this.rawLengths[i]!);
    }
    this.hasher.addEncoded(encoded);
    this.hashed = end;
  }

  /** Checks the page's place and entries. Throws BAD_FRAME as addPage. */
  private checkPage(firstIndex: number, entries: readonly ManifestEntry[]): void {
    const name = this.name;
    if (firstIndex !== this.received) {
      throw new HashRelayError("BAD_FRAME", `manifest page of ${name} starts at entry ${firstIndex}, expected ${this.received}`);
    }
    if (
      !Array.isArray(entries) ||
      entries.length === 0 ||
      entries.length > MANIFEST_PAGE_ENTRIES ||
      firstIndex + entries.length > MAX_CHUNKS_PER_ARCHIVE
    ) {
      throw new HashRelayError("BAD_FRAME", `manifest page of ${name} at entry ${firstIndex}: bad entry count ${entries?.length}`);
    }
    for (const [k, entry] of entries.entries()) {
      if (!Number.isSafeInteger(entry.rawLength) || entry.rawLength < 0 || entry.rawLength > CHUNK_MAX) {
        throw new HashRelayError(
          "BAD_FRAME",
          `manifest entry ${firstIndex + k} of ${name}: raw length ${entry.rawLength} is outside 0..${CHUNK_MAX}`,
        );
      }
    }
    encodeManifestEntries(entries, 0, entries.length); // checks id lengths
  }

  /** Chunk id of entry `i` (a view: copy it to keep it). */
  id(i: number): Uint8Array {
    return this.ids.subarray(i * 32, i * 32 + 32);
  }

  /** Raw length of entry `i`. */
  rawLength(i: number): number {
    return this.rawLengths[i]!;
  }

  /** Entry `index` as received, or undefined when there is no such entry. */
  entry(index: number): ManifestEntry | undefined {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.received) return undefined;
    return { id: this.id(index).slice(), rawLength: this.rawLengths[index]! };
  }

  /** True when `index` is an entry whose chunk was asked for and has not arrived. */
  isNeeded(index: number): boolean {
    return Number.isSafeInteger(index) && index >= 0 && index < this.received && this.states[index] === NEEDED;
  }

  /** Entry `index`, which was needed, has its chunk now (verified). */
  markReceived(index: number): void {
    this.states[index] = RECEIVED;
    this.asked--;
  }

  /** True when the client already had entry `i`'s chunk before this upload. */
  hadAlready(i: number): boolean {
    return this.states[i] === HAVE;
  }

  /** The entry whose chunk serves entry `i`: the first entry with that id for a repeat, else `i`. */
  origin(i: number): number {
    return this.states[i] === REPEAT ? this.repeatOf.get(i)! : i;
  }

  /** The first entry still needed, or -1. */
  firstMissing(): number {
    for (let i = 0; i < this.received; i++) if (this.states[i] === NEEDED) return i;
    return -1;
  }

  /** Grows the per-entry arrays to take at least `count` entries (doubling, capped at MAX_CHUNKS_PER_ARCHIVE). */
  private grow(count: number): void {
    if (count <= this.rawLengths.length) return;
    const capacity = Math.min(MAX_CHUNKS_PER_ARCHIVE, Math.max(count, this.rawLengths.length * 2, 1024));
    const ids = new Uint8Array(capacity * 32);
    ids.set(this.ids);
    const raw = new Uint32Array(capacity);
    raw.set(this.rawLengths);
    const states = new Uint8Array(capacity);
    states.set(this.states);
    this.ids = ids;
    this.rawLengths = raw;
    this.states = states;
  }
}
