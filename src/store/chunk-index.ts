// The chunk index: every stored archive and its members in SQLite (.hashrelay/index.sqlite), derived and rebuildable.
import { digestText, parseDigest } from "../protocol/file-digest.ts";
//
// Tables (schema version in PRAGMA user_version):
//   archives(id, client, file, name, archive_id, file_sha256, size, mtime_ms, stored_at, receipt JSON)
//   members(archive → archives.id, seq, client, chunk_id BLOB(32), offset, length, raw_length, member_sha256 BLOB(32))
//   index members(client, chunk_id): "does this client have chunk X, and where" without loading anything else.
// Every change to one archive is one transaction. WAL mode; synchronous=NORMAL is enough for derived data
// (a lost commit is found again by the next open's scan; a lost receipt is signed again on demand).
import type { Database } from "bun:sqlite";
import { rename } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { isSignedDocShape, lazyEntry, type ArchiveRow, type ChunkLocation, type IndexEntry, type MemberRecord } from "./index-entry.ts";
import type { MemberTable } from "./member-table.ts";
import { pathExists } from "./layout.ts";
import { openChecked, prepareStatements, type ArchiveSqlRow, type IndexStatements } from "./index-schema.ts";
import type { StoreLog } from "./store-log.ts";
import type { ReplacementTotals } from "./suspect-replacement.ts";

/** Members read per query when an archive's members are walked (iterateMembers). */
const MEMBER_PAGE_ROWS = 16_384;

/** Where a member is in the index: its archive's row, and its place among that archive's members (seq + 1 is the next). */
export interface StoredPlace {
  archive: number;
  seq: number;
}

/** A member of a stored archive as the index records it, for reuse at commit. */
export interface StoredMember extends StoredPlace {
  file: string;
  offset: number;
  length: number;
  rawLength: number;
  /** SHA-256 of the member's bytes as stored. */
  sha256: Uint8Array;
}

/** One member row: chunk id (hex), where it sits, its raw length and the SHA-256 of its bytes. */
export interface IndexedMember {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
  sha256: Uint8Array;
}

export class ChunkIndex {
  readonly path: string;
  private readonly db: Database;
  private order: Map<number, { file: string; storedAt: string }> | null = null;
  private readonly q: IndexStatements;

  private constructor(path: string, db: Database) {
    this.path = path;
    this.db = db;
    this.q = prepareStatements(db);
  }

  /**
   * Opens (creating) the index at `path`. A file that is not an SQLite database, fails its integrity
   * check or has another schema version is moved aside (`<path>.corrupt-<ms>`, with its -wal/-shm)
   * and a fresh index is made: the caller's scan fills it. Throws STORAGE when even a fresh index
   * cannot be made.
   */
  static async open(path: string, log: StoreLog, nowMs: number): Promise<ChunkIndex> {
    try {
      return new ChunkIndex(path, openChecked(path));
    } catch (err) {
      const aside = `${path}.corrupt-${nowMs}`;
      log("warn", "index.corrupt", { path, movedTo: aside, reason: (err as Error).message });
      for (const suffix of ["", "-wal", "-shm"]) {
        if (await pathExists(path + suffix)) await rename(path + suffix, aside + suffix);
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
    return this.q.all.all().map((r) => ({
      client: r.client,
      file: r.file,
      size: r.size,
      mtimeMs: r.mtime_ms,
      consistent: r.members > 0 && r.last_seq === r.members - 1 && r.last_end === r.size && (r.covered ?? 0) <= r.size,
    }));
  }

  /** The entry of archive row `row`; its members are read from this index when first used. */
  entry(row: ArchiveRow): IndexEntry {
    return lazyEntry(row, () => this.members(row.client, row.file));
  }

  /** The members of (client, file) in file order; [] when it is not indexed. */
  members(client: string, file: string): MemberRecord[] {
    const row = this.q.archive.get(client, file);
    if (!row) return [];
    return this.q.members.all(row.id).map((m) => [m.id, m.offset, m.length, m.raw_length]);
  }

  /**
   * The sums a replacement is judged on (suspect-replacement.ts) for archive `next` of `client` against
   * `previous`, added up in SQLite (no member is loaded); undefined when either is not indexed.
   */
  replacementTotals(client: string, previous: string, next: string): ReplacementTotals | undefined {
    const before = this.q.archive.get(client, previous);
    const after = this.q.archive.get(client, next);
    if (!before || !after) return undefined;
    const p = this.q.totals.get(before.id)!;
    const n = this.q.totals.get(after.id)!;
    return {
      previousRaw: p.raw ?? 0,
      previousPacked: p.packed ?? 0,
      nextRaw: n.raw ?? 0,
      nextPacked: n.packed ?? 0,
      sharedRaw: this.q.sharedRaw.get(after.id, client, before.id)!.raw ?? 0,
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
      const page = this.q.memberPage.all(row.id, from, MEMBER_PAGE_ROWS);
      for (const m of page) yield { id: m.id, offset: m.offset, length: m.length, rawLength: m.raw_length, sha256: m.sha };
      if (page.length < MEMBER_PAGE_ROWS) return;
    }
  }

  /** Members [from, from + limit) of (client, file) in file order; [] past the end or when it is not indexed. */
  memberPage(client: string, file: string, from: number, limit: number): IndexedMember[] {
    const row = this.q.archive.get(client, file);
    if (!row) return [];
    return this.q.memberPage
      .all(row.id, from, limit)
      .map((m) => ({ id: m.id, offset: m.offset, length: m.length, rawLength: m.raw_length, sha256: m.sha }));
  }

  /** Number of members of (client, file); 0 when it is not indexed. */
  memberCount(client: string, file: string): number {
    const row = this.q.archive.get(client, file);
    return row ? this.q.memberCount.get(row.id)!.n : 0;
  }

  /** Members `index - 1` and `index` of (client, file) (undefined where there is none). Two primary-key probes. */
  membersAround(client: string, file: string, index: number): [IndexedMember | undefined, IndexedMember | undefined] {
    const row = this.q.archive.get(client, file);
    if (!row || !Number.isInteger(index) || index < 0) return [undefined, undefined];
    const page = this.q.memberPage.all(row.id, Math.max(0, index - 1), index === 0 ? 1 : 2);
    const pick = (m: (typeof page)[number] | undefined) =>
      m && { id: m.id, offset: m.offset, length: m.length, rawLength: m.raw_length, sha256: m.sha };
    return index === 0 ? [undefined, pick(page[0])] : [pick(page[0]), pick(page[1])];
  }

  /** True when one of the client's stored archives contains chunk `id` (32 bytes). One index probe. */
  has(client: string, id: Uint8Array): boolean {
    return this.q.has.get(client, id) !== null;
  }

  /**
   * The member of chunk `id` in the newest of the client's archives containing it (the last to be
   * trashed) for which `usable(file, offset)` holds (default: every one), or undefined.
   */
  locate(client: string, id: Uint8Array, usable?: (file: string, offset: number) => boolean): StoredMember | undefined {
    let best:
      | {
          archive: { file: string; storedAt: string };
          row: { archive: number; seq: number; offset: number; length: number; raw_length: number; sha: Uint8Array };
        }
      | undefined;
    for (const row of this.q.locate.all(client, id)) {
      const archive = this.archiveById(row.archive);
      if (!archive || (usable && !usable(archive.file, row.offset))) continue;
      if (!best || compareNewest(archive, best.archive) > 0) best = { archive, row };
    }
    if (!best) return undefined;
    const { row } = best;
    const { archive, seq, offset, length, raw_length: rawLength, sha: sha256 } = row;
    return { archive, seq, file: best.archive.file, offset, length, rawLength, sha256 };
  }

  /**
   * Member `after.seq + 1` of archive `after.archive` when it is chunk `id`: the member that continues
   * a run of reused members where they lie one after the other. One primary-key probe; undefined otherwise.
   */
  next(after: StoredPlace, id: Uint8Array): StoredMember | undefined {
    const row = this.q.memberAt.get(after.archive, after.seq + 1);
    if (!row || !Buffer.from(row.chunk_id).equals(Buffer.from(id))) return undefined;
    const file = this.archiveById(after.archive)?.file;
    if (file === undefined) return undefined;
    const { offset, length, raw_length: rawLength, sha: sha256 } = row;
    return { archive: after.archive, seq: after.seq + 1, file, offset, length, rawLength, sha256 };
  }

  /** chunk id (hex) → location over all of the client's archives (newest wins). Reads every member: for tests and tools. */
  chunkMap(client: string): Map<string, ChunkLocation> {
    const map = new Map<string, ChunkLocation>();
    for (const row of this.q.chunkMap.iterate(client)) map.set(row.id, { file: row.file, offset: row.offset, length: row.length });
    return map;
  }

  /** Records (replacing any previous record of the same client and file) an archive and its members, in one transaction. */
  put(row: ArchiveRow, members: MemberTable): void {
    const { q } = this;
    this.db.transaction(() => {
      this.removeUnlocked(row.client, row.file);
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
      for (const page of members.pages()) {
        for (let k = 0; k < page.count; k++) {
          const id = page.id(k);
          const sha = page.sha256(k);
          q.insertMember.run(inserted.id, page.first + k, row.client, id, page.offset(k), page.length(k), page.rawLength(k), sha);
        }
      }
    })();
    this.order = null;
  }

  /** Forgets (client, file) and its members; nothing when it is not indexed. */
  remove(client: string, file: string): void {
    this.db.transaction(() => this.removeUnlocked(client, file))();
    this.order = null;
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
    this.q.deleteMembers.run(existing.id);
    this.q.deleteArchive.run(existing.id);
  }
}

/** Positive when `a` is newer than `b`: later stored time, then later file name (which embeds the backup time). */
function compareNewest(a: { file: string; storedAt: string }, b: { file: string; storedAt: string }): number {
  if (a.storedAt !== b.storedAt) return a.storedAt > b.storedAt ? 1 : -1;
  return a.file > b.file ? 1 : a.file < b.file ? -1 : 0;
}

/** An archives-table row as an ArchiveRow; a damaged receipt is dropped (signed again on demand). */
function toArchiveRow(row: ArchiveSqlRow): ArchiveRow {
  const out: ArchiveRow = {
    client: row.client,
    name: row.name,
    file: row.file,
    archiveId: row.archive_id,
    ...parseDigest(row.file_sha256),
    size: row.size,
    mtimeMs: row.mtime_ms,
    storedAt: row.stored_at,
  };
  if (row.receipt !== null) {
    try {
      const receipt: unknown = JSON.parse(row.receipt);
      if (isSignedDocShape(receipt)) out.receipt = receipt;
    } catch {
      // a damaged receipt is signed again on demand
    }
  }
  return out;
}
