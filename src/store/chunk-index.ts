// The chunk index: every stored archive and its members in SQLite (.hashrelay/index.sqlite), derived and rebuildable.
import { digestText } from "../protocol/file-digest.ts";
//
// Tables (schema version in PRAGMA user_version):
//   archives(id, client, file, name, archive_id, file_sha256, size, mtime_ms, stored_at, receipt JSON, live)
//   members(archive → archives.id, seq, chunk_id BLOB(32), offset, length, raw_length, member_sha256 BLOB(32))
//   spans(archive, first_seq, count, source, source_seq, shift): members an archive reuses unchanged from
//     another, one row per stretch (index-spans.ts): a backup writes rows for what changed only.
//   index members(chunk_id): "does this client have chunk X, and where" without loading anything else.
// Every change to one archive is one transaction. WAL mode; synchronous=NORMAL is enough for derived data
// (a lost commit is found again by the next open's scan; a lost receipt is signed again on demand).
import type { Database } from "bun:sqlite";
import { rename, unlink } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { lazyEntry, type ArchiveRow, type ChunkLocation, type IndexEntry, type MemberRecord } from "./index-entry.ts";
import { compareNewest, toArchiveRow, toIndexedMember, type IndexedMember, type StoredMember, type StoredPlace } from "./index-rows.ts";
import type { MemberTable } from "./member-table.ts";
import { pathExists } from "./layout.ts";
import { OlderSchema, SCHEMA_VERSION, openChecked, prepareStatements, type IndexStatements, type MemberSqlRow } from "./index-schema.ts";
import { forgetArchive, membersIn, recordMembers, sharedRaw } from "./index-spans.ts";
import { MemberReadAhead } from "./member-read-ahead.ts";
import { SpanBook, covers } from "./span-book.ts";
import type { StoreLog } from "./store-log.ts";
import type { ReplacementTotals } from "./suspect-replacement.ts";

/** Members read per query when an archive's members are walked (iterateMembers). */
const MEMBER_PAGE_ROWS = 16_384;

export class ChunkIndex {
  readonly path: string;
  private readonly db: Database;
  private order: Map<number, { file: string; storedAt: string }> | null = null;
  private book: SpanBook | null = null;
  private readonly q: IndexStatements;
  private readonly ahead: MemberReadAhead;

  private constructor(path: string, db: Database) {
    this.path = path;
    this.db = db;
    this.q = prepareStatements(db);
    this.ahead = new MemberReadAhead((archive, from, limit) => membersIn(this.q, this.spans(), archive, from, limit));
  }

  /**
   * Opens (creating) the index at `path`. An index of an older schema version is deleted (logged
   * index.upgrade); a file that is not an SQLite database, fails its integrity check or has a newer
   * version is moved aside (`<path>.corrupt-<ms>`, with its -wal/-shm). Either way a fresh index is
   * made: the caller's scan fills it from the archives. Throws STORAGE when even that cannot be made.
   */
  static async open(path: string, log: StoreLog, nowMs: number): Promise<ChunkIndex> {
    try {
      return new ChunkIndex(path, openChecked(path));
    } catch (err) {
      const older = err instanceof OlderSchema;
      const aside = `${path}.corrupt-${nowMs}`;
      if (older) log("info", "index.upgrade", { path, from: err.version, to: SCHEMA_VERSION, note: "rebuilt from the archives" });
      else log("warn", "index.corrupt", { path, movedTo: aside, reason: (err as Error).message });
      for (const suffix of ["", "-wal", "-shm"]) {
        if (!(await pathExists(path + suffix))) continue;
        await (older ? unlink(path + suffix) : rename(path + suffix, aside + suffix));
      }
    }
    try {
      return new ChunkIndex(path, openChecked(path));
    } catch (err) {
      throw new HashRelayError(
        "STORAGE",
        `cannot create the chunk index ${path}: ${(err as Error).message}`,
        "check the server's storage folder (permissions, disk)",
        { cause: err },
      );
    }
  }

  /** Closes the database; the index is unusable afterwards. Throws what SQLite throws. */
  close(): void {
    this.db.close();
  }

  /** The client's archives, oldest first (stored time, then file name, which embeds the backup time). */
  archives(client: string): ArchiveRow[] {
    return this.q.archives.all(client).map(toArchiveRow);
  }

  /** Every client's archives, by client, oldest first. */
  everyArchive(): ArchiveRow[] {
    return this.q.everyArchive.all().map(toArchiveRow);
  }

  /** The row of (client, file), or undefined when it is not indexed. */
  archive(client: string, file: string): ArchiveRow | undefined {
    const row = this.q.archive.get(client, file);
    return row ? toArchiveRow(row) : undefined;
  }

  /**
   * Every archive row with what open() needs to tell whether it is still right: its file's size and
   * mtime, and whether its members (count, lengths) cover that size: none missing (seq 0 to count - 1),
   * the last ending the file, fillers (at most the bytes left) between them.
   */
  recorded(): { client: string; file: string; size: number; mtimeMs: number; consistent: boolean }[] {
    const { q } = this;
    return q.liveRows.all().map((r) => {
      const own = q.ownStats.get(r.id)!;
      const lent = q.spanStats.get(r.id)!;
      const extent = q.spanExtent.get(r.id)!;
      const members = own.n + lent.n;
      const lastSeq = Math.max(own.last ?? -1, extent.last ?? -1);
      const last = lastSeq >= 0 ? membersIn(q, this.spans(), r.id, lastSeq, 1)[0] : undefined;
      const covered = (own.packed ?? 0) + (lent.packed ?? 0);
      const whole = lent.n === (extent.declared ?? 0) && lastSeq === members - 1 && last !== undefined;
      return {
        client: r.client,
        file: r.file,
        size: r.size,
        mtimeMs: r.mtime_ms,
        consistent: members > 0 && whole && last.offset + last.length === r.size && covered <= r.size,
      };
    });
  }

  /** The entry of archive row `row`; its members are read from this index when first used. */
  entry(row: ArchiveRow): IndexEntry {
    return lazyEntry(row, () => this.members(row.client, row.file));
  }

  /** The members of (client, file) in file order; [] when it is not indexed. */
  members(client: string, file: string): MemberRecord[] {
    const row = this.q.archive.get(client, file);
    if (!row) return [];
    return membersIn(this.q, this.spans(), row.id, 0, this.countOf(row.id)).map((m) => [m.id, m.offset, m.length, m.raw_length]);
  }

  /**
   * The sums a replacement is judged on (suspect-replacement.ts) for archive `next` of `client` against
   * `previous`, added up in SQLite (no member is loaded); undefined when either is not indexed.
   */
  replacementTotals(client: string, previous: string, next: string): ReplacementTotals | undefined {
    const before = this.q.archive.get(client, previous);
    const after = this.q.archive.get(client, next);
    if (!before || !after) return undefined;
    const p = this.totals(before.id);
    const n = this.totals(after.id);
    return {
      previousRaw: p.raw,
      previousPacked: p.packed,
      nextRaw: n.raw,
      nextPacked: n.packed,
      sharedRaw: this.sharedRaw(after.id, before.id),
    };
  }

  /**
   * The members of (client, file) in file order, read MEMBER_PAGE_ROWS at a time as the iteration
   * reaches them (each page its own query: the index may change between pages); none when it is not indexed.
   */
  *iterateMembers(client: string, file: string): Generator<IndexedMember> {
    const row = this.q.archive.get(client, file);
    if (!row) return;
    for (let from = 0; ; from += MEMBER_PAGE_ROWS) {
      const page = membersIn(this.q, this.spans(), row.id, from, MEMBER_PAGE_ROWS);
      for (const m of page) yield toIndexedMember(m);
      if (page.length < MEMBER_PAGE_ROWS) return;
    }
  }

  /** Members [from, from + limit) of (client, file) in file order; [] past the end or when it is not indexed. */
  memberPage(client: string, file: string, from: number, limit: number): IndexedMember[] {
    const row = this.q.archive.get(client, file);
    if (!row) return [];
    return membersIn(this.q, this.spans(), row.id, from, limit).map(toIndexedMember);
  }

  /** Number of members of (client, file); 0 when it is not indexed. */
  memberCount(client: string, file: string): number {
    const row = this.q.archive.get(client, file);
    return row ? this.countOf(row.id) : 0;
  }

  /** Members `index - 1` and `index` of (client, file) (undefined where there is none). A few primary-key probes. */
  membersAround(client: string, file: string, index: number): [IndexedMember | undefined, IndexedMember | undefined] {
    const row = this.q.archive.get(client, file);
    if (!row || !Number.isInteger(index) || index < 0) return [undefined, undefined];
    const page = membersIn(this.q, this.spans(), row.id, Math.max(0, index - 1), index === 0 ? 1 : 2);
    const pick = (m: MemberSqlRow | undefined) => m && toIndexedMember(m);
    return index === 0 ? [undefined, pick(page[0])] : [pick(page[0]), pick(page[1])];
  }

  /**
   * True when one of the client's stored archives contains chunk `id` (32 bytes). One index probe (and,
   * for a row of a retired archive, a look at the spans naming it).
   */
  has(client: string, id: Uint8Array): boolean {
    return this.q.holders.all(id, client).some((row) => row.live === 1 || this.spans().lending(row.archive, row.seq).length > 0);
  }

  /**
   * The member of chunk `id` in the newest of the client's archives containing it (the last to be
   * trashed) for which `usable(file, offset)` holds (default: every one), or undefined.
   */
  locate(client: string, id: Uint8Array, usable?: (file: string, offset: number) => boolean): StoredMember | undefined {
    let best: { at: { file: string; storedAt: string }; member: StoredMember } | undefined;
    const consider = (archive: number, seq: number, offset: number, row: Omit<MemberSqlRow, "id" | "offset">) => {
      const at = this.archiveById(archive);
      if (!at || (usable && !usable(at.file, offset)) || (best && compareNewest(at, best.at) <= 0)) return;
      const { length, raw_length: rawLength, sha: sha256, xxh } = row;
      best = { at, member: { archive, seq, file: at.file, offset, length, rawLength, sha256, ...(xxh ? { xxh3: xxh } : {}) } };
    };
    for (const row of this.q.locate.all(id, client)) {
      if (row.live === 1) consider(row.archive, row.seq, row.offset, row);
      // the archives that reuse this row through a span hold the chunk too, at their own place
      for (const span of this.spans().lending(row.archive, row.seq))
        consider(span.archive, span.first_seq + (row.seq - span.source_seq), row.offset + span.shift, row);
    }
    return best?.member;
  }

  /**
   * Member `after.seq + 1` of archive `after.archive` when it is chunk `id`: the member that continues
   * a run of reused members where they lie one after the other. Read a page ahead (MemberReadAhead):
   * a query per page of the run, not per member; undefined otherwise.
   */
  next(after: StoredPlace, id: Uint8Array): StoredMember | undefined {
    const row = this.ahead.at(after.archive, after.seq + 1);
    if (!row || row.id !== Buffer.from(id).toString("hex")) return undefined;
    const file = this.archiveById(after.archive)?.file;
    if (file === undefined) return undefined;
    const { offset, length, raw_length: rawLength, sha: sha256, xxh } = row;
    return { archive: after.archive, seq: after.seq + 1, file, offset, length, rawLength, sha256, ...(xxh ? { xxh3: xxh } : {}) };
  }

  /** chunk id (hex) → location over all of the client's archives (newest wins). Reads every member: for tests and tools. */
  chunkMap(client: string): Map<string, ChunkLocation> {
    const map = new Map<string, ChunkLocation>();
    for (const archive of this.archives(client))
      for (const m of this.iterateMembers(client, archive.file)) map.set(m.id, { file: archive.file, offset: m.offset, length: m.length });
    return map;
  }

  /** Records (replacing any previous record of the same client and file) an archive and its members, in one transaction. */
  put(row: ArchiveRow, members: MemberTable): void {
    const { q } = this;
    this.db.transaction(() => {
      this.removeUnlocked(row.client, row.file);
      this.book = null;
      const inserted = q.insertArchive.get(
        row.client,
        row.file,
        row.name,
        row.archiveId,
        digestText(row),
        row.size,
        row.mtimeMs,
        row.storedAt,
        row.receipt ? JSON.stringify(row.receipt) : null,
      ) as { id: number };
      recordMembers(q, this.spans(), inserted.id, members);
    })();
    this.changed();
  }

  /** Forgets (client, file) and its members; nothing when it is not indexed. */
  remove(client: string, file: string): void {
    this.db.transaction(() => this.removeUnlocked(client, file))();
    this.changed();
  }

  /** What was read from the index before a change is read again after it. */
  private changed(): void {
    this.order = null;
    this.book = null;
    this.ahead.forget();
  }

  /**
   * Records the XXH3-64 of members whose rows have none (an index from before the column), found intact by
   * a scrub or verify: later copies check them by it instead of SHA-256. A row that has one, or is gone, is
   * left as it is. One transaction. Never throws: an index it cannot write (busy past its timeout) keeps
   * those rows without one, for a later scrub; the scrub's findings do not depend on it.
   */
  recordXxh3(found: readonly { row: StoredPlace; xxh3: Uint8Array }[]): void {
    if (found.length === 0) return;
    try {
      this.db.transaction(() => {
        for (const { row, xxh3 } of found) this.q.setXxh3.run(xxh3, row.archive, row.seq);
      })();
    } catch {
      return;
    }
    this.ahead.forget();
  }

  /** Records the receipt of (client, file); false when that archive is not indexed. */
  setReceipt(client: string, file: string, receipt: object): boolean {
    return this.q.setReceipt.run(JSON.stringify(receipt), client, file).changes > 0;
  }

  /** File and stored time of archive row `id`, from a cache reloaded when it lacks the id (ids are never reused). */
  private archiveById(id: number): { file: string; storedAt: string } | undefined {
    let found = this.order?.get(id);
    if (!found) {
      this.order = new Map(this.q.order.all().map((r) => [r.id, { file: r.file, storedAt: r.stored_at }]));
      found = this.order.get(id);
    }
    return found;
  }

  /** remove() without its own transaction: for callers already in one. */
  private removeUnlocked(client: string, file: string): void {
    const existing = this.q.archive.get(client, file);
    if (!existing) return;
    forgetArchive(this.q, existing.id);
  }

  /** True when archive row `archive` has chunk `id`: a row of its own, or one a span of its lends it. */
  private inArchive(archive: number, id: Uint8Array): boolean {
    const spans = this.spans().of(archive);
    return this.q.rowsOf.all(id).some((row) => row.archive === archive || spans.some((s) => covers(s, row.archive, row.seq)));
  }

  /** The spans, loaded when first needed after a change. */
  private spans(): SpanBook {
    return (this.book ??= SpanBook.load(this.q));
  }

  /** Members of archive row `id`: its own rows and those its spans lend it. */
  private countOf(id: number): number {
    return this.q.ownStats.get(id)!.n + (this.q.spanExtent.get(id)!.declared ?? 0);
  }

  /** Raw and packed bytes of archive row `id`'s members, summed in SQLite. */
  private totals(id: number): { raw: number; packed: number } {
    const own = this.q.ownStats.get(id)!;
    const lent = this.q.spanStats.get(id)!;
    return { raw: (own.raw ?? 0) + (lent.raw ?? 0), packed: (own.packed ?? 0) + (lent.packed ?? 0) };
  }

  /** Raw bytes of archive row `next`'s members whose chunk archive row `previous` has too (index-spans.ts). */
  private sharedRaw(next: number, previous: number): number {
    const span = { next, previous, count: this.countOf(next), pageRows: MEMBER_PAGE_ROWS };
    return sharedRaw(this.q, this.spans(), span, (id) => this.inArchive(previous, Buffer.from(id, "hex")));
  }
}
