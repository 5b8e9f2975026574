// Test-only: builds archives the way a client would (one gzip member per chunk) and feeds them to a Store.
import { afterEach } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { archiveIdOf, type ManifestEntry } from "../archive/manifest.ts";
import { deflateRaw } from "../io/compress.ts";
import type { IndexEntry } from "./index-entry.ts";
import type { Store } from "./store.ts";
import type { Upload, UploadHeader } from "./upload.ts";

export interface TestArchive {
  raws: Uint8Array[];
  members: Uint8Array[];
  entries: ManifestEntry[];
  /** What the client would write as its .tar.gz: the members concatenated. */
  bytes: Uint8Array;
  archiveId: string;
  rawSize: number;
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/** `length` pseudo-random bytes determined by `seed` (SHA-256 in counter mode). */
export function seededBytes(seed: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let block = 0, at = 0; at < length; block++, at += 32) {
    const digest = sha256(new TextEncoder().encode(`${seed}:${block}`));
    out.set(digest.subarray(0, Math.min(32, length - at)), at);
  }
  return out;
}

export function buildArchive(raws: Uint8Array[]): TestArchive {
  const members = raws.map((raw) => encodeGzipMember(raw, deflateRaw));
  const entries = raws.map((raw) => ({ id: sha256(raw), rawLength: raw.length }));
  return {
    raws,
    members,
    entries,
    bytes: new Uint8Array(Buffer.concat(members)),
    archiveId: archiveIdOf(entries),
    rawSize: raws.reduce((sum, r) => sum + r.length, 0),
  };
}

/** Raw chunks of a plain byte stream, cut every `size` bytes. */
export function sliceStream(stream: Uint8Array, size: number): Uint8Array[] {
  const raws: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += size) raws.push(stream.slice(at, at + size));
  return raws;
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Call at a test file's top level: returns a maker of fresh temp folders, each removed after the test that made it. */
export function tempRoots(prefix: string): () => Promise<string> {
  const roots: string[] = [];
  afterEach(async () => {
    for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
  });
  return async () => {
    const root = await tempDir(prefix);
    roots.push(root);
    return root;
  };
}

/** The source name of an archive file `backup-NAME-SS-MM-HH-YYYY-MM-DD.tar.gz` (parsed here, not with the code under test). */
export function nameOfFile(file: string): string {
  return /^backup-(.+)-\d{2}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.tar\.gz$/.exec(file)![1]!;
}

/** The header a client's signed manifest would carry at commit for `archive` stored as `file`. */
export function headerFor(file: string, archive: TestArchive): UploadHeader {
  return { name: nameOfFile(file), file, archiveId: archive.archiveId, chunks: archive.entries.length, rawSize: archive.rawSize };
}

/**
 * Starts an upload of the file's source name and streams the whole manifest (pages of `pageSize`);
 * returns the upload, the need flags and the header to commit with.
 */
export function offer(
  store: Store,
  client: string,
  file: string,
  archive: TestArchive,
  pageSize = 16384,
): { upload: Upload; needed: boolean[]; header: UploadHeader } {
  const header = headerFor(file, archive);
  const upload = store.beginUpload(client, header.name);
  const needed = sendPages(upload, archive.entries, pageSize);
  return { upload, needed, header };
}

/** Sends `entries` as manifest pages of `pageSize` starting at entry 0; returns the need flags. */
export function sendPages(upload: Upload, entries: readonly ManifestEntry[], pageSize = 16384): boolean[] {
  const needed: boolean[] = [];
  for (let at = 0; at < entries.length; at += pageSize) {
    needed.push(...upload.addManifestPage(at, entries.slice(at, at + pageSize)));
  }
  return needed;
}

/** Sends the member of every chunk flagged as needed. */
export async function sendNeeded(upload: Upload, archive: TestArchive, needed: readonly boolean[]): Promise<void> {
  for (const [i, need] of needed.entries()) if (need) await upload.addChunk(i, archive.members[i]!);
}

/** The whole exchange a client would run: offer, send what is needed, commit with the archive's header. */
export async function uploadArchive(
  store: Store,
  client: string,
  file: string,
  archive: TestArchive,
): Promise<{ needed: boolean[]; entry: IndexEntry }> {
  const { upload, needed, header } = offer(store, client, file, archive);
  await sendNeeded(upload, archive, needed);
  return { needed, entry: await upload.commit(header) };
}
