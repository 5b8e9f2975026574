// The client's proof material (state/proofs.sqlite): a secret, and per chunk the answers to challenges the server has not seen yet.
//
// Tables (schema version in PRAGMA user_version):
//   meta(key, value)            "secret": 32 random bytes; nonces derive from it (protocol/proof.ts), it never leaves this file
//   proofs(chunk_id, first, used, tokens, seen)
//                               tokens: PROOF_TOKEN_BYTES per round, rounds first … first+n-1; `used` of them spent
//   source_chunks(source, chunk_id)   the chunks of each source's last archive: their proofs are never pruned
//   source_archives(source, archive_id) the archive source_chunks holds for each source (a backup then records
//                               only what changed since); older builds leave it stale, which costs one full record
// `seen` is IN_LAST_ARCHIVE for a chunk in some source's last archive (kept out of the pruning's range
// scan), else when it last left one or was answered: each backup touches only the rows that changed.
// Not derived data: lose this file and `hashrelay verify` has nothing to check until chunks are read again.
// A round is marked spent (synchronous=FULL, one transaction) before its nonce is sent, so no nonce is ever asked twice.
import { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import type { IdChange } from "../archive/sorted-ids.ts";
import { HashRelayError } from "../errors.ts";
import { GMAC_FIRST_ROUND, PROOF_ROUNDS, PROOF_TOKEN_BYTES } from "../protocol/constants.ts";

const SCHEMA_VERSION = 1;
const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE proofs (chunk_id BLOB PRIMARY KEY, first INTEGER NOT NULL, used INTEGER NOT NULL, tokens BLOB NOT NULL, seen INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE source_chunks (source TEXT NOT NULL, chunk_id BLOB NOT NULL, PRIMARY KEY (source, chunk_id)) WITHOUT ROWID;
`;

/**
 * Added to files of SCHEMA_VERSION 1 when opened (IF NOT EXISTS): builds that predate them read and
 * write the file as before, so no version bump and no downgrade trap. The indexes make a backup's
 * record and prune cost what changed: finding a chunk's other sources, and the rows aged out.
 */
const SCHEMA_ADDITIONS = `
CREATE TABLE IF NOT EXISTS source_archives (source TEXT PRIMARY KEY, archive_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS source_chunks_by_chunk ON source_chunks (chunk_id);
CREATE INDEX IF NOT EXISTS proofs_by_seen ON proofs (seen);
`;

/** `seen` of a chunk in some source's last archive: above every time, so the pruning's range never reaches it. */
const IN_LAST_ARCHIVE = Number.MAX_SAFE_INTEGER;

/** The chunks of a source's new last archive: all of them, or what changed since archive `from` (idChanges). */
export type SourceChunks = { all: Iterable<Uint8Array> } | { from: string; changes: Iterable<IdChange> };

/** New answers for one chunk: rounds first … first + tokens.length / PROOF_TOKEN_BYTES - 1. */
export interface ProofRows {
  id: Uint8Array;
  first: number;
  tokens: Uint8Array;
}

export class ProofStore {
  private constructor(
    private readonly db: Database,
    readonly secret: Uint8Array,
  ) {}

  /**
   * Opens (creating it 0600 with a fresh secret when missing) the proof file. Throws STORAGE naming the
   * file when it is not a proof file of this version.
   */
  static open(file: string): ProofStore {
    const existed = fs.existsSync(file);
    let db: Database | null = null;
    try {
      db = new Database(file, { create: true, strict: true });
      if (!existed) fs.chmodSync(file, 0o600);
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
      const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
      if (version === 0) {
        db.transaction(() => {
          db!.exec(SCHEMA);
          db!.query("INSERT INTO meta (key, value) VALUES ('secret', ?)").run(randomBytes(32));
          db!.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
        })();
      } else if (version !== SCHEMA_VERSION) {
        throw new Error(`schema version ${version}, this build reads ${SCHEMA_VERSION}`);
      }
      db.exec(SCHEMA_ADDITIONS);
      const row = db.query("SELECT value FROM meta WHERE key = 'secret'").get() as { value: Uint8Array } | null;
      if (!row || row.value.length !== 32) throw new Error("no secret recorded");
      return new ProofStore(db, new Uint8Array(row.value));
    } catch (err) {
      db?.close();
      throw new HashRelayError(
        "STORAGE",
        `proof file ${file} cannot be used: ${(err as Error).message}`,
        "move it aside: new proofs are made as chunks are read again; archives backed up before cannot be verified",
        { cause: err },
      );
    }
  }

  /**
   * The first round to make answers for when `id` is read now, or null when it still has more than half
   * of PROOF_ROUNDS unspent. Rounds only grow: a new batch starts after every round ever made, and at
   * GMAC_FIRST_ROUND at least (answers made before GMAC rounds existed are spent first).
   */
  roundsToAdd(id: Uint8Array): number | null {
    const row = this.db.query("SELECT first, used, length(tokens) AS bytes FROM proofs WHERE chunk_id = ?").get(id) as {
      first: number;
      used: number;
      bytes: number;
    } | null;
    if (!row) return GMAC_FIRST_ROUND;
    const made = row.bytes / PROOF_TOKEN_BYTES;
    return made - row.used > PROOF_ROUNDS / 2 ? null : Math.max(GMAC_FIRST_ROUND, row.first + made);
  }

  /** Records new answers (replacing a chunk's spent ones) and marks the chunks seen at `nowMs`. One transaction. */
  add(rows: readonly ProofRows[], nowMs: number): void {
    const put = this.db.query("INSERT OR REPLACE INTO proofs (chunk_id, first, used, tokens, seen) VALUES (?, ?, 0, ?, ?)");
    this.db.transaction(() => {
      for (const r of rows) put.run(r.id, r.first, r.tokens, nowMs);
    })();
  }

  /**
   * Sets new answers aside in a temporary table (a file of sqlite's, dropped with the connection)
   * until `addStaged`: a backup reading a large source keeps them out of memory until its receipt.
   */
  stage(rows: readonly ProofRows[]): void {
    this.db.exec("CREATE TEMP TABLE IF NOT EXISTS staged (chunk_id BLOB NOT NULL, first INTEGER NOT NULL, tokens BLOB NOT NULL)");
    const put = this.db.query("INSERT INTO temp.staged (chunk_id, first, tokens) VALUES (?, ?, ?)");
    this.db.transaction(() => {
      for (const r of rows) put.run(r.id, r.first, r.tokens);
    })();
  }

  /** Records the staged answers as `add` would (a chunk staged twice keeps its last) and empties the stage. One transaction. */
  addStaged(nowMs: number): void {
    this.db.exec("CREATE TEMP TABLE IF NOT EXISTS staged (chunk_id BLOB NOT NULL, first INTEGER NOT NULL, tokens BLOB NOT NULL)");
    this.db.transaction(() => {
      this.db
        .query(
          "INSERT OR REPLACE INTO proofs (chunk_id, first, used, tokens, seen) SELECT chunk_id, first, 0, tokens, ? FROM temp.staged ORDER BY rowid",
        )
        .run(nowMs);
      this.db.exec("DELETE FROM temp.staged");
    })();
  }

  /** The archive whose chunks `source_chunks` holds for `source`, or null. */
  recordedArchive(source: string): string | null {
    const row = this.db.query("SELECT archive_id FROM source_archives WHERE source = ?").get(source) as { archive_id: string } | null;
    return row?.archive_id ?? null;
  }

  /**
   * Records `chunks` as the chunks of `source`'s last archive `archiveId`, then forgets the answers of
   * chunks in no source's last archive that left it (or were answered) before `pruneBeforeMs`; returns
   * how many went. A chunk leaving the source's archive is stamped `nowMs` unless another source's holds
   * it. Writes: one row per chunk that changed, and per row that aged out; `all` rewrites the source's
   * rows (its first backup, or a file that recorded another archive). One transaction. Throws Error when
   * `from` is not the archive recorded for the source (nothing written).
   */
  setSourceChunks(source: string, archiveId: string, chunks: SourceChunks, nowMs: number, pruneBeforeMs: number): number {
    const link = this.db.query("INSERT OR IGNORE INTO source_chunks (source, chunk_id) VALUES (?, ?)");
    const unlink = this.db.query("DELETE FROM source_chunks WHERE source = ? AND chunk_id = ?");
    const kept = this.db.query("UPDATE proofs SET seen = ? WHERE chunk_id = ?");
    const left = this.db.query(
      "UPDATE proofs SET seen = ? WHERE chunk_id = ? AND NOT EXISTS (SELECT 1 FROM source_chunks s WHERE s.chunk_id = proofs.chunk_id)",
    );
    return this.db.transaction(() => {
      if ("all" in chunks) {
        this.db
          .query(
            `UPDATE proofs SET seen = ? WHERE seen = ${IN_LAST_ARCHIVE} AND chunk_id IN (SELECT chunk_id FROM source_chunks WHERE source = ?)`,
          )
          .run(nowMs, source);
        this.db.query("DELETE FROM source_chunks WHERE source = ?").run(source);
        for (const id of chunks.all) {
          link.run(source, id);
          kept.run(IN_LAST_ARCHIVE, id);
        }
      } else {
        const recorded = this.recordedArchive(source);
        if (recorded !== chunks.from) throw new Error(`the proof file holds archive ${recorded} for ${source}, not ${chunks.from}`);
        for (const { id, added } of chunks.changes) {
          if (added) {
            link.run(source, id);
            kept.run(IN_LAST_ARCHIVE, id);
          } else {
            unlink.run(source, id);
            left.run(nowMs, id);
          }
        }
      }
      this.db.query("INSERT OR REPLACE INTO source_archives (source, archive_id) VALUES (?, ?)").run(source, archiveId);
      return this.prune(pruneBeforeMs);
    })();
  }

  /**
   * Deletes the answers stamped before `beforeMs` of chunks in no source's last archive. Rows stamped
   * that early but still in one (answered again, or stamped by an older build) are set IN_LAST_ARCHIVE
   * first, so each row is scanned once after it ages out, not at every backup.
   */
  private prune(beforeMs: number): number {
    this.db
      .query(
        `UPDATE proofs SET seen = ${IN_LAST_ARCHIVE} WHERE seen < ? AND EXISTS (SELECT 1 FROM source_chunks s WHERE s.chunk_id = proofs.chunk_id)`,
      )
      .run(beforeMs);
    return this.db.query("DELETE FROM proofs WHERE seen < ?").run(beforeMs).changes;
  }

  /** Spends one unspent round of `id` (durably, before the caller sends its nonce): its number and kept answer, or null when none is left. */
  take(id: Uint8Array): { round: number; token: Uint8Array } | null {
    return this.takeEach([id])[0]!;
  }

  /**
   * take() for each id in order, in one durable transaction (one fsync, not one per challenge); an id
   * listed twice spends two rounds.
   */
  takeEach(ids: readonly Uint8Array[]): ({ round: number; token: Uint8Array } | null)[] {
    const get = this.db.query("SELECT first, used, tokens FROM proofs WHERE chunk_id = ?");
    const spend = this.db.query("UPDATE proofs SET used = used + 1 WHERE chunk_id = ?");
    return this.db.transaction(() =>
      ids.map((id) => {
        const row = get.get(id) as { first: number; used: number; tokens: Uint8Array } | null;
        if (!row || row.used >= row.tokens.length / PROOF_TOKEN_BYTES) return null;
        spend.run(id);
        return {
          round: row.first + row.used,
          token: new Uint8Array(row.tokens.subarray(row.used * PROOF_TOKEN_BYTES, (row.used + 1) * PROOF_TOKEN_BYTES)),
        };
      }),
    )();
  }

  /** Unspent rounds of `id` (0 when it has none). */
  left(id: Uint8Array): number {
    const row = this.db.query("SELECT used, length(tokens) AS bytes FROM proofs WHERE chunk_id = ?").get(id) as {
      used: number;
      bytes: number;
    } | null;
    return row ? row.bytes / PROOF_TOKEN_BYTES - row.used : 0;
  }

  close(): void {
    this.db.close();
  }
}
