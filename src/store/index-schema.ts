// The chunk index's SQLite schema and its prepared statements (chunk-index.ts says what the tables hold).
import { Database, type Statement } from "bun:sqlite";

/** The layout of index.sqlite; another version is moved aside and the index rebuilt from the archives (version 1: no spans). */
export const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE archives (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  client TEXT NOT NULL,
  file TEXT NOT NULL,
  name TEXT NOT NULL,
  archive_id TEXT NOT NULL,
  file_sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime_ms REAL NOT NULL,
  stored_at TEXT NOT NULL,
  receipt TEXT,
  live INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX archives_by_file ON archives (client, file) WHERE live = 1;
CREATE TABLE members (
  archive INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  chunk_id BLOB NOT NULL,
  offset INTEGER NOT NULL,
  length INTEGER NOT NULL,
  raw_length INTEGER NOT NULL,
  member_sha256 BLOB NOT NULL,
  member_xxh3 BLOB,
  PRIMARY KEY (archive, seq)
) WITHOUT ROWID;
CREATE INDEX members_by_chunk ON members (chunk_id);
CREATE TABLE spans (
  archive INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  count INTEGER NOT NULL,
  source INTEGER NOT NULL,
  source_seq INTEGER NOT NULL,
  shift INTEGER NOT NULL,
  PRIMARY KEY (archive, first_seq)
) WITHOUT ROWID;
CREATE INDEX spans_by_source ON spans (source, source_seq);
`;

export interface ArchiveSqlRow {
  id: number;
  client: string;
  file: string;
  name: string;
  archive_id: string;
  file_sha256: string;
  size: number;
  mtime_ms: number;
  stored_at: string;
  receipt: string | null;
}

const ARCHIVE_COLUMNS = "id, client, file, name, archive_id, file_sha256, size, mtime_ms, stored_at, receipt";

/** A member row as the index reads it: chunk id (hex), where it sits, its raw length, the SHA-256 of its bytes and their XXH3-64 (null: not recorded). */
export interface MemberSqlRow {
  /** The row's own place: its archive's id and its number there (a span's members keep their source's). */
  archive: number;
  seq: number;
  id: string;
  offset: number;
  length: number;
  raw_length: number;
  sha: Uint8Array;
  xxh: Uint8Array | null;
}

/** A span row: members [first_seq, first_seq + count) of its archive are rows [source_seq, …) of archive `source`, `shift` bytes further on. */
export interface SpanSqlRow {
  first_seq: number;
  count: number;
  source: number;
  source_seq: number;
  shift: number;
}

/** Every query the index runs, prepared once. Only live archives are listed; a retired one only lends its rows to spans. */
export interface IndexStatements {
  archives: Statement<ArchiveSqlRow, [string]>;
  everyArchive: Statement<ArchiveSqlRow, []>;
  archive: Statement<ArchiveSqlRow, [string, string]>;
  liveRows: Statement<{ id: number; client: string; file: string; size: number; mtime_ms: number }, []>;
  ownStats: Statement<{ n: number; packed: number | null; raw: number | null; last: number | null }, [number]>;
  spanStats: Statement<{ n: number; packed: number | null; raw: number | null }, [number]>;
  spanExtent: Statement<{ declared: number | null; last: number | null }, [number]>;
  rowsIn: Statement<MemberSqlRow, [number, number, number]>;
  rawIn: Statement<{ raw: number | null }, [number, number, number]>;
  allSpans: Statement<SpanSqlRow & { archive: number }, []>;
  holders: Statement<{ archive: number; seq: number; live: number }, [Uint8Array, string]>;
  locate: Statement<
    {
      archive: number;
      seq: number;
      offset: number;
      length: number;
      raw_length: number;
      sha: Uint8Array;
      xxh: Uint8Array | null;
      live: number;
    },
    [Uint8Array, string]
  >;
  rowsOf: Statement<{ archive: number; seq: number }, [Uint8Array]>;
  order: Statement<{ id: number; file: string; stored_at: string }, []>;
  insertArchive: Statement<unknown, [string, string, string, string, string, number, number, string, string | null]>;
  insertMember: Statement<unknown, [number, number, Uint8Array, number, number, number, Uint8Array, Uint8Array | null]>;
  insertSpan: Statement<unknown, [number, number, number, number, number, number]>;
  spanSources: Statement<{ source: number }, [number]>;
  referenced: Statement<{ one: number }, [number]>;
  isLive: Statement<{ live: number }, [number]>;
  retire: Statement<unknown, [number]>;
  deleteArchive: Statement<unknown, [number]>;
  deleteMembers: Statement<unknown, [number]>;
  deleteSpans: Statement<unknown, [number]>;
  setReceipt: Statement<unknown, [string, string, string]>;
  setXxh3: Statement<unknown, [Uint8Array, number, number]>;
}

const MEMBER_COLUMNS = "archive, seq, lower(hex(chunk_id)) AS id, offset, length, raw_length, member_sha256 AS sha, member_xxh3 AS xxh";

/** The statements of `db` (opened by openChecked). */
export function prepareStatements(db: Database): IndexStatements {
  return {
    archives: db.query(`SELECT ${ARCHIVE_COLUMNS} FROM archives WHERE client = ? AND live = 1 ORDER BY stored_at, file`),
    everyArchive: db.query(`SELECT ${ARCHIVE_COLUMNS} FROM archives WHERE live = 1 ORDER BY client, stored_at, file`),
    archive: db.query(`SELECT ${ARCHIVE_COLUMNS} FROM archives WHERE client = ? AND file = ? AND live = 1`),
    liveRows: db.query("SELECT id, client, file, size, mtime_ms FROM archives WHERE live = 1"),
    ownStats: db.query(
      "SELECT COUNT(*) AS n, SUM(length) AS packed, SUM(raw_length) AS raw, MAX(seq) AS last FROM members WHERE archive = ?",
    ),
    spanStats: db.query(
      "SELECT COUNT(*) AS n, SUM(m.length) AS packed, SUM(m.raw_length) AS raw FROM spans s" +
        " JOIN members m ON m.archive = s.source AND m.seq >= s.source_seq AND m.seq < s.source_seq + s.count WHERE s.archive = ?",
    ),
    spanExtent: db.query("SELECT SUM(count) AS declared, MAX(first_seq + count - 1) AS last FROM spans WHERE archive = ?"),
    rowsIn: db.query(`SELECT ${MEMBER_COLUMNS} FROM members WHERE archive = ? AND seq >= ? AND seq < ? ORDER BY seq`),
    rawIn: db.query("SELECT SUM(raw_length) AS raw FROM members WHERE archive = ? AND seq >= ? AND seq < ?"),
    allSpans: db.query("SELECT archive, first_seq, count, source, source_seq, shift FROM spans ORDER BY archive, first_seq"),
    holders: db.query(
      "SELECT m.archive, m.seq, a.live FROM members m JOIN archives a ON a.id = m.archive WHERE m.chunk_id = ? AND a.client = ?",
    ),
    // no join: the newest archive is picked from a cache of the (few) archive rows, ~7x faster
    locate: db.query(
      "SELECT m.archive, m.seq, m.offset, m.length, m.raw_length, m.member_sha256 AS sha, m.member_xxh3 AS xxh, a.live FROM members m" +
        " JOIN archives a ON a.id = m.archive WHERE m.chunk_id = ? AND a.client = ?",
    ),
    rowsOf: db.query("SELECT archive, seq FROM members WHERE chunk_id = ?"),
    order: db.query("SELECT id, file, stored_at FROM archives WHERE live = 1"),
    insertArchive: db.query(
      "INSERT INTO archives (client, file, name, archive_id, file_sha256, size, mtime_ms, stored_at, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    ),
    insertMember: db.query(
      "INSERT INTO members (archive, seq, chunk_id, offset, length, raw_length, member_sha256, member_xxh3) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    insertSpan: db.query("INSERT INTO spans (archive, first_seq, count, source, source_seq, shift) VALUES (?, ?, ?, ?, ?, ?)"),
    spanSources: db.query("SELECT DISTINCT source FROM spans WHERE archive = ?"),
    referenced: db.query("SELECT 1 AS one FROM spans WHERE source = ? LIMIT 1"),
    isLive: db.query("SELECT live FROM archives WHERE id = ?"),
    retire: db.query("UPDATE archives SET live = 0, receipt = NULL WHERE id = ?"),
    deleteArchive: db.query("DELETE FROM archives WHERE id = ?"),
    deleteMembers: db.query("DELETE FROM members WHERE archive = ?"),
    deleteSpans: db.query("DELETE FROM spans WHERE archive = ?"),
    setReceipt: db.query("UPDATE archives SET receipt = ? WHERE client = ? AND file = ? AND live = 1"),
    setXxh3: db.query("UPDATE members SET member_xxh3 = ? WHERE archive = ? AND seq = ? AND member_xxh3 IS NULL"),
  };
}

/**
 * Adds the members' XXH3-64 column to an index made before it (same schema version: a column that may be
 * null, which an older server of version 2 neither reads nor fills). Its rows keep null there, and a copy
 * checks those members by their SHA-256, as before, until a scrub or verify of an archive holding them
 * records it (ChunkIndex.recordXxh3); the members written from then on record both.
 */
function addXxh3Column(db: Database): void {
  const columns = db.query<{ name: string }, []>("SELECT name FROM pragma_table_info('members')").all();
  if (!columns.some((c) => c.name === "member_xxh3")) db.run("ALTER TABLE members ADD COLUMN member_xxh3 BLOB");
}

/** An index an older server made: derived data, replaced by a fresh index that the open's scan fills from the archives. */
export class OlderSchema extends Error {
  constructor(readonly version: number) {
    super(`schema version ${version}, this server uses ${SCHEMA_VERSION}`);
  }
}

/** Opens the database and checks it; throws (after closing it) when it is unusable. */
export function openChecked(path: string): Database {
  const db = new Database(path, { create: true, strict: true });
  try {
    db.run("PRAGMA busy_timeout = 5000");
    db.run("PRAGMA journal_mode = WAL");
    db.run("PRAGMA synchronous = NORMAL");
    const check = db.query<Record<string, string>, []>("PRAGMA quick_check").all();
    const verdict = check.map((row) => Object.values(row)[0]).join("; ");
    if (verdict !== "ok") throw new Error(`integrity check failed: ${verdict}`);
    const version = db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version;
    if (version === 0) {
      const tables = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM sqlite_master").get()!.n;
      if (tables !== 0) throw new Error("tables without a schema version");
      db.transaction(() => {
        db.run(SCHEMA);
        db.run(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      })();
    } else if (version < SCHEMA_VERSION) {
      throw new OlderSchema(version);
    } else if (version !== SCHEMA_VERSION) {
      throw new Error(`schema version ${version}, this server uses ${SCHEMA_VERSION}`);
    }
    addXxh3Column(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
