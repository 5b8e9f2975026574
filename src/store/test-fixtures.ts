// Test-only: builds archives the way a client would (one gzip member per chunk) and feeds them to a Store.
import { createHash } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { archiveIdOf, type ManifestEntry } from "../archive/manifest.ts";
import { deflateRaw } from "../io/compress.ts";
import type { CatalogEntry } from "./catalog.ts";
import type { Store } from "./store.ts";
import type { Upload } from "./upload.ts";

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

/** Starts an upload and sends the whole manifest (pages of `pageSize`); returns the upload and the need flags. */
export function offer(store: Store, client: string, file: string, archive: TestArchive, pageSize = 16384): { upload: Upload; needed: boolean[] } {
  const name = /^backup-(.+)-\d{2}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.tar\.gz$/.exec(file)![1]!;
  const upload = store.beginUpload(client, {
    name,
    file,
    archiveId: archive.archiveId,
    chunks: archive.entries.length,
    rawSize: archive.rawSize,
  });
  const needed: boolean[] = [];
  for (let at = 0; at < archive.entries.length; at += pageSize) {
    needed.push(...upload.addManifestPage(at, archive.entries.slice(at, at + pageSize)));
  }
  return { upload, needed };
}

/** The whole exchange a client would run: offer, send what is needed, commit. */
export async function uploadArchive(
  store: Store,
  client: string,
  file: string,
  archive: TestArchive,
): Promise<{ needed: boolean[]; entry: CatalogEntry }> {
  const { upload, needed } = offer(store, client, file, archive);
  for (const [i, need] of needed.entries()) if (need) await upload.addChunk(i, archive.members[i]!);
  return { needed, entry: await upload.commit() };
}
