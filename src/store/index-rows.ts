// The chunk index's rows as the store uses them: where a member sits, and the SQL rows read back as records.
import { parseDigest } from "../protocol/file-digest.ts";
import { isSignedDocShape, type ArchiveRow } from "./index-entry.ts";
import type { ArchiveSqlRow, MemberSqlRow } from "./index-schema.ts";

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
  /** XXH3-64 of the member's bytes as stored, when recorded (memberXxh3). */
  xxh3?: Uint8Array;
}

/** One member row: chunk id (hex), where it sits, its raw length and the SHA-256 of its bytes. */
export interface IndexedMember {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
  sha256: Uint8Array;
  /** XXH3-64 of the member's bytes, when recorded (memberXxh3). */
  xxh3?: Uint8Array;
  /** Its row in the index (a span's member: its source's row). */
  row?: StoredPlace;
}

/** A members-table row as an IndexedMember, with its place. */
export function toIndexedMember(m: MemberSqlRow): IndexedMember {
  const member: IndexedMember = { id: m.id, offset: m.offset, length: m.length, rawLength: m.raw_length, sha256: m.sha };
  if (m.xxh) member.xxh3 = m.xxh;
  member.row = { archive: m.archive, seq: m.seq };
  return member;
}

/** Positive when `a` is newer than `b`: later stored time, then later file name (which embeds the backup time). */
export function compareNewest(a: { file: string; storedAt: string }, b: { file: string; storedAt: string }): number {
  if (a.storedAt !== b.storedAt) return a.storedAt > b.storedAt ? 1 : -1;
  return a.file > b.file ? 1 : a.file < b.file ? -1 : 0;
}

/** An archives-table row as an ArchiveRow; a damaged receipt is dropped (signed again on demand). */
export function toArchiveRow(row: ArchiveSqlRow): ArchiveRow {
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
