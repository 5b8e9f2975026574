// Beside each archive, what lets it be restored from the NAS alone: the client's signed manifest and the server's signed receipt.
import { digestOf, sameDigest, type FileDigest } from "../protocol/file-digest.ts";
//
// `<root>/.signed/<client>/<file>.json` = {"v":1, "manifest"?: SignedDoc, "receipt": SignedDoc}. Not derived (no scan
// can make the client's signature again), so never under .hashrelay; not in the client folder, which holds archives
// only. It is written durably before the archive is renamed into place, follows the archive into the trash as
// `.trash/<client>/<item>.signed.json`, and is purged with it. Archives stored before signed records existed have
// none until the server signs their receipt again.
import { mkdir, readFile, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { fsyncDir, writeFileAtomic } from "../io/atomic-file.ts";
import { checkReceiptBody, type ReceiptBody, type SignedDoc } from "../protocol/signed-document.ts";
import { isSignedDocShape } from "./index-entry.ts";
import type { StoreLayout } from "./layout.ts";

export interface SignedRecord {
  /** The manifest the client signed in its `commit` (PROTOCOL.md §7.1); absent for archives stored before records were kept. */
  manifest?: SignedDoc;
  /** The server's receipt (§7.2), signed by the identity in force when it was last signed. */
  receipt: SignedDoc;
}

/** What a receipt attests of a stored archive (PROTOCOL.md §7.2 without `v` and `kind`). */
export type ReceiptFacts = Omit<ReceiptBody, "v" | "kind">;

/** The record at `path`, or null when there is none or it is not a record (damaged: treated as missing). Never throws. */
export async function readSignedRecord(path: string): Promise<SignedRecord | null> {
  return parseSignedRecord(await readFile(path, "utf8").catch(() => ""));
}

/** The record `text` holds, or null when it is not a record. Never throws. */
export function parseSignedRecord(text: string): SignedRecord | null {
  try {
    const value = JSON.parse(text) as { manifest?: unknown; receipt?: unknown };
    if (!isSignedDocShape(value.receipt)) return null;
    if (value.manifest !== undefined && !isSignedDocShape(value.manifest)) return null;
    return { ...(value.manifest ? { manifest: value.manifest } : {}), receipt: value.receipt };
  } catch {
    return null;
  }
}

/** Writes `record` at `path` durably (temp file, fsync, rename, fsync the folder), making the folders (0750) when missing. Throws fs errors. */
export async function writeSignedRecord(path: string, record: SignedRecord): Promise<void> {
  const dir = dirname(path);
  const created = await mkdir(dir, { recursive: true, mode: 0o750 });
  // Each new folder's entry lives in its parent: fsync every parent from the record's folder up to the first one made.
  if (created) for (let made = dir; made !== dirname(created); made = dirname(made)) await fsyncDir(dirname(made));
  const value = { v: 1, ...(record.manifest ? { manifest: record.manifest } : {}), receipt: record.receipt };
  await writeFileAtomic(path, JSON.stringify(value) + "\n", 0o640);
}

/**
 * The record's receipt and the storage time it attests, when its body attests exactly `facts` (the time
 * aside), else null: how an index rebuilt by scanning gets the real storage time back.
 */
export function receiptAttesting(
  record: SignedRecord | null,
  facts: Omit<ReceiptFacts, "storedAt">,
): { receipt: SignedDoc; storedAt: string; digest: FileDigest } | null {
  if (!record) return null;
  try {
    const body = checkReceiptBody(JSON.parse(record.receipt.body));
    const same =
      body.client === facts.client &&
      body.name === facts.name &&
      body.file === facts.file &&
      body.archiveId === facts.archiveId &&
      sameDigest(body, facts) &&
      body.size === facts.size;
    return same ? { receipt: record.receipt, storedAt: body.storedAt, digest: digestOf(body) } : null;
  } catch {
    return null;
  }
}

/**
 * Runs `moveArchive` (the durable rename of `<client>/<file>` to trash item `item`) with the archive's record
 * following it: copied into the trash first, removed from .signed last, so a crash at any point leaves a
 * copy with the archive (the stray copy or orphan left behind is cleaned later). Throws fs errors.
 */
export async function withRecordIntoTrash(
  layout: StoreLayout,
  client: string,
  file: string,
  item: string,
  moveArchive: () => Promise<void>,
): Promise<void> {
  const from = layout.signedPath(client, file);
  const to = layout.trashedSignedPath(client, item);
  const bytes = await readFile(from).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return null;
    throw err;
  });
  if (bytes) await writeFileAtomic(to, bytes, 0o640);
  await moveArchive();
  if (!bytes) return;
  // A purge listing the trash between the copy and the move took the copy for a stray one: make it again.
  const copied = await readFile(to).then(
    () => true,
    () => false,
  );
  if (!copied) await writeFileAtomic(to, bytes, 0o640);
  await unlink(from);
}
