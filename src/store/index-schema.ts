// The chunk index's SQLite schema and its prepared statements (chunk-index.ts says what the tables hold).
import { Database, type Statement } from "bun:sqlite";

/** The layout of index.sqlite; another version is moved aside and the index rebuilt. */
const SCHEMA_VERSION = 1;

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
  UNIQUE (client, file)
);
CREATE TABLE members (
  archive INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  client TEXT NOT NULL,
  chunk_id BLOB NOT NULL,
  offset INTEGER NOT NULL,
  length INTEGER NOT NULL,
  raw_length INTEGER NOT NULL,
  member_sha256 BLOB NOT NULL,
  PRIMARY KEY (archive, seq)
) WITHOUT ROWID;
CREATE INDEX members_by_chunk ON members (client, chunk_id);
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

/** Every query the index runs, prepared once. */
export interface IndexStatements {
  archives: Statement<ArchiveSqlRow, [string]>;
  everyArchive: Statement<ArchiveSqlRow, []>;
  archive: Statement<ArchiveSqlRow, [string, string]>;
  all: Statement<
    {
      client: string;
      file: string;
      size: number;
      mtime_ms: number;
      members: number;
      covered: number | null;
      last_end: number | null;
      last_seq: number | null;
    },
    []
  >;
  members: Statement<{ id: string; offset: number; length: number; raw_length: number }, [number]>;
  memberCount: Statement<{ n: number }, [number]>;
  memberPage: Statement<{ id: string; offset: number; length: number; raw_length: number; sha: Uint8Array }, [number, number, number]>;
  has: Statement<{ one: number }, [string, Uint8Array]>;
  locate: Statement<
    { archive: number; seq: number; offset: number; length: number; raw_length: number; sha: Uint8Array },
    [string, Uint8Array]
  >;
  memberAt: Statement<{ chunk_id: Uint8Array; offset: number; length: number; raw_length: number; sha: Uint8Array }, [number, number]>;
  order: Statement<{ id: number; file: string; stored_at: string }, []>;
  chunkMap: Statement<{ id: string; file: string; offset: number; length: number }, [string]>;
  insertArchive: Statement<unknown, [string, string, string, string, string, number, number, string, string | null]>;
  insertMember: Statement<unknown, [number, number, string, Uint8Array, number, number, number, Uint8Array]>;
  deleteArchive: Statement<unknown, [number]>;
  deleteMembers: Statement<unknown, [number]>;
  setReceipt: Statement<unknown, [string, string, string]>;
  totals: Statement<{ raw: number | null; packed: number | null }, [number]>;
  sharedRaw: Statement<{ raw: number | null }, [number, string, number]>;
}

/** The statements of `db` (opened by openChecked). */
export function prepareStatements(db: Database): IndexStatements {
  return {
    archives: db.query(`SELECT ${ARCHIVE_COLUMNS} FROM archives WHERE client = ? ORDER BY stored_at, file`),
    everyArchive: db.query(`SELECT ${ARCHIVE_COLUMNS} FROM archives ORDER BY client, stored_at, file`),
    archive: db.query(`SELECT ${ARCHIVE_COLUMNS} FROM archives WHERE client = ? AND file = ?`),
    all: db.query(
      "SELECT a.client, a.file, a.size, a.mtime_ms, (SELECT COUNT(*) FROM members m WHERE m.archive = a.id) AS members," +
        " (SELECT SUM(length) FROM members m WHERE m.archive = a.id) AS covered," +
        " (SELECT MAX(offset + length) FROM members m WHERE m.archive = a.id) AS last_end," +
        " (SELECT MAX(seq) FROM members m WHERE m.archive = a.id) AS last_seq FROM archives a",
    ),
    members: db.query("SELECT lower(hex(chunk_id)) AS id, offset, length, raw_length FROM members WHERE archive = ? ORDER BY seq"),
    memberCount: db.query("SELECT COUNT(*) AS n FROM members WHERE archive = ?"),
    memberPage: db.query(
      "SELECT lower(hex(chunk_id)) AS id, offset, length, raw_length, member_sha256 AS sha FROM members" +
        " WHERE archive = ? AND seq >= ? ORDER BY seq LIMIT ?",
    ),
    has: db.query("SELECT 1 AS one FROM members WHERE client = ? AND chunk_id = ? LIMIT 1"),
    // no join: the newest archive is picked from a cache of the (few) archive rows, ~7x faster
    locate: db.query(
      "SELECT archive, seq, offset, length, raw_length, member_sha256 AS sha FROM members WHERE client = ? AND chunk_id = ?",
    ),
    memberAt: db.query("SELECT chunk_id, offset, length, raw_length, member_sha256 AS sha FROM members WHERE archive = ? AND seq = ?"),
    order: db.query("SELECT id, file, stored_at FROM archives"),
    chunkMap: db.query(
      "SELECT lower(hex(m.chunk_id)) AS id, a.file, m.offset, m.length FROM members m JOIN archives a ON a.id = m.archive" +
        " WHERE m.client = ? ORDER BY a.stored_at, a.file, m.seq",
    ),
    insertArchive: db.query(
      "INSERT INTO archives (client, file, name, archive_id, file_sha256, size, mtime_ms, stored_at, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    ),
    insertMember: db.query(
      "INSERT INTO members (archive, seq, client, chunk_id, offset, length, raw_length, member_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    deleteArchive: db.query("DELETE FROM archives WHERE id = ?"),
    deleteMembers: db.query("DELETE FROM members WHERE archive = ?"),
    setReceipt: db.query("UPDATE archives SET receipt = ? WHERE client = ? AND file = ?"),
    totals: db.query("SELECT SUM(raw_length) AS raw, SUM(length) AS packed FROM members WHERE archive = ?"),
    sharedRaw: db.query(
      "SELECT SUM(n.raw_length) AS raw FROM members n WHERE n.archive = ?" +
        " AND EXISTS (SELECT 1 FROM members p WHERE p.client = ? AND p.chunk_id = n.chunk_id AND p.archive = ?)",
    ),
  };
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
    } else if (version !== SCHEMA_VERSION) {
      throw new Error(`schema version ${version}, this server uses ${SCHEMA_VERSION}`);
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
