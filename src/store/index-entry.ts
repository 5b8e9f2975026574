// Pure: what the store tells its callers about each stored archive: its index entry, members, chunk locations, receipt.
import type { FileDigest } from "../protocol/file-digest.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";

/** One member of a stored archive: [chunk id (hex), offset in the file, member length, raw length]. */
export type MemberRecord = [chunkIdHex: string, offset: number, memberLength: number, rawLength: number];

/** What the chunk index knows of one archive stored under `<root>/<client>/<file>`, with the digest its receipt signs. */
export interface IndexEntry extends FileDigest {
  client: string;
  name: string;
  file: string;
  /** Hex SHA-256 of the canonical manifest. */
  archiveId: string;
  size: number;
  /** The file's mtime when the entry was made: a mismatch on open means the entry is stale. */
  mtimeMs: number;
  /** ISO 8601 UTC time the server stored the file (its mtime for entries rebuilt by scanning). */
  storedAt: string;
  /** In file order. Read from the index the first time it is used (entries are cheap until then). */
  members: MemberRecord[];
  /** The server's signed receipt; absent for entries rebuilt by scanning. */
  receipt?: SignedDoc;
}

/** An entry without its members: one row of the index's archive table. */
export type ArchiveRow = Omit<IndexEntry, "members">;

/** Where a chunk's gzip member sits in one of the client's stored archives. */
export interface ChunkLocation {
  file: string;
  offset: number;
  length: number;
}

/** An entry whose `members` are loaded by `loadMembers` on first use, then kept. */
export function lazyEntry(row: ArchiveRow, loadMembers: () => MemberRecord[]): IndexEntry {
  const entry = { ...row } as IndexEntry;
  if (entry.receipt === undefined) delete entry.receipt;
  let members: MemberRecord[] | undefined;
  Object.defineProperty(entry, "members", {
    enumerable: true,
    configurable: true,
    get: () => (members ??= loadMembers()),
    set: (value: MemberRecord[]) => (members = value),
  });
  return entry;
}

/** True for an object with exactly the string fields body, sig and key (the signature itself is the agent's to check). */
export function isSignedDocShape(value: unknown): value is SignedDoc {
  if (typeof value !== "object" || value === null) return false;
  const keys = Object.keys(value).sort();
  const doc = value as Record<string, unknown>;
  return keys.join(",") === "body,key,sig" && typeof doc.body === "string" && typeof doc.sig === "string" && typeof doc.key === "string";
}
