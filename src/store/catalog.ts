// The catalog: what each stored archive holds (members, ids, receipt), kept in memory and as derived JSON files.
import { mkdir, readFile, unlink } from "node:fs/promises";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
import { StoreLayout, checkArchiveFile, checkClient, readdirOrEmpty } from "./layout.ts";

/** One member of a stored archive: [chunk id (hex), offset in the file, member length, raw length]. */
export type MemberRecord = [chunkIdHex: string, offset: number, memberLength: number, rawLength: number];

/** What the server knows of one archive stored under `<root>/<client>/<file>`. */
export interface CatalogEntry {
  client: string;
  name: string;
  file: string;
  /** Hex SHA-256 of the canonical manifest. */
  archiveId: string;
  /** Hex SHA-256 of the whole file. */
  fileSha256: string;
  size: number;
  /** The file's mtime when the entry was made: a mismatch on open means the entry is stale. */
  mtimeMs: number;
  /** ISO 8601 UTC time the server stored the file (its mtime for entries rebuilt by scanning). */
  storedAt: string;
  members: MemberRecord[];
  /** The server's signed receipt; absent for entries rebuilt by scanning. */
  receipt?: SignedDoc;
}

/** Where a chunk's gzip member sits in one of the client's stored archives. */
export interface ChunkLocation {
  file: string;
  offset: number;
  length: number;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** In-memory catalog of the archives under their final names, grouped by client, with a cached chunk index per client. */
export class Catalog {
  private readonly byClient = new Map<string, Map<string, CatalogEntry>>();
  private readonly indexes = new Map<string, Map<string, ChunkLocation>>();

  get(client: string, file: string): CatalogEntry | undefined {
    return this.byClient.get(client)?.get(file);
  }

  put(entry: CatalogEntry): void {
    let files = this.byClient.get(entry.client);
    if (!files) this.byClient.set(entry.client, (files = new Map()));
    files.set(entry.file, entry);
    this.indexes.delete(entry.client);
  }

  remove(client: string, file: string): void {
    this.byClient.get(client)?.delete(file);
    this.indexes.delete(client);
  }

  /** The client's entries, oldest first (storedAt, then the time in the file name, then the file name). */
  entries(client: string): CatalogEntry[] {
    return [...(this.byClient.get(client)?.values() ?? [])].sort(compareOldestFirst);
  }

  clients(): string[] {
    return [...this.byClient.keys()];
  }

  /**
   * chunk id (hex) → where its member sits, over this client's archives only. When several archives
   * hold a chunk, the newest wins (it is the last to be trashed).
   */
  chunkIndex(client: string): Map<string, ChunkLocation> {
    let index = this.indexes.get(client);
    if (!index) {
      index = new Map();
      for (const entry of this.entries(client)) {
        for (const [id, offset, length] of entry.members) index.set(id, { file: entry.file, offset, length });
      }
      this.indexes.set(client, index);
    }
    return index;
  }
}

/** Orders entries oldest first; the file name (which embeds the backup time) breaks ties. */
export function compareOldestFirst(a: CatalogEntry, b: CatalogEntry): number {
  if (a.storedAt !== b.storedAt) return a.storedAt < b.storedAt ? -1 : 1;
  return a.file < b.file ? -1 : a.file > b.file ? 1 : 0;
}

/** Writes the entry's JSON atomically under `.hashrelay/catalog/<client>/`. Throws fs errors. */
export async function saveCatalogEntry(layout: StoreLayout, entry: CatalogEntry): Promise<void> {
  await mkdir(layout.catalogDir(entry.client), { recursive: true, mode: 0o750 });
  await writeFileAtomic(layout.catalogPath(entry.client, entry.file), JSON.stringify(entry), 0o640);
}

/** Removes the entry's JSON if present. Throws fs errors other than ENOENT. */
export async function removeCatalogEntry(layout: StoreLayout, client: string, file: string): Promise<void> {
  await unlink(layout.catalogPath(client, file)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
}

/**
 * Reads every catalog JSON file. Files that are not valid entries for the client and file their path
 * names are reported through `onInvalid` (the caller removes them: the catalog is derived data).
 */
export async function loadCatalogFiles(
  layout: StoreLayout,
  onInvalid: (path: string, reason: string) => void,
): Promise<CatalogEntry[]> {
  const found: CatalogEntry[] = [];
  for (const client of await readdirOrEmpty(layout.catalogRoot())) {
    try {
      checkClient(client);
    } catch {
      continue; // not a folder this store made
    }
    for (const item of await readdirOrEmpty(layout.catalogDir(client))) {
      if (!item.endsWith(".json")) continue;
      const file = item.slice(0, -".json".length);
      const path = layout.catalogPath(client, file);
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(path, "utf8"));
      } catch (err) {
        onInvalid(path, `unreadable: ${(err as Error).message}`);
        continue;
      }
      const problem = catalogEntryProblem(parsed, client, file);
      if (problem) onInvalid(path, problem);
      else found.push(parsed as CatalogEntry);
    }
  }
  return found;
}

/** Why `value` is not a well-formed entry for (client, file), or null when it is. */
export function catalogEntryProblem(value: unknown, client: string, file: string): string | null {
  if (typeof value !== "object" || value === null) return "not an object";
  const e = value as Record<string, unknown>;
  if (e.client !== client || e.file !== file) return "client or file does not match its path";
  try {
    checkArchiveFile(e.name as string, file);
  } catch {
    return "name does not match the file";
  }
  if (typeof e.archiveId !== "string" || !HEX64.test(e.archiveId)) return "bad archiveId";
  if (typeof e.fileSha256 !== "string" || !HEX64.test(e.fileSha256)) return "bad fileSha256";
  if (!isCount(e.size) || typeof e.mtimeMs !== "number" || typeof e.storedAt !== "string") return "bad size, mtimeMs or storedAt";
  if (!Array.isArray(e.members) || e.members.length === 0) return "no members";
  let expectedOffset = 0;
  for (const m of e.members as unknown[]) {
    if (!Array.isArray(m) || m.length !== 4) return "bad member";
    const [id, offset, length, raw] = m as unknown[];
    if (typeof id !== "string" || !HEX64.test(id) || offset !== expectedOffset || !isCount(length) || !isCount(raw)) {
      return "bad member";
    }
    expectedOffset += length as number;
  }
  if (expectedOffset !== e.size) return "members do not cover the file";
  if (e.receipt !== undefined && !isSignedDocShape(e.receipt)) return "bad receipt";
  return null;
}

/** True for an object with exactly the string fields body, sig and key (the signature itself is the agent's to check). */
export function isSignedDocShape(value: unknown): value is SignedDoc {
  if (typeof value !== "object" || value === null) return false;
  const keys = Object.keys(value).sort();
  const doc = value as Record<string, unknown>;
  return keys.join(",") === "body,key,sig" && typeof doc.body === "string" && typeof doc.sig === "string" && typeof doc.key === "string";
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}
