// The cache made to agree with the bucket before a client is served: its holds, what the bucket lacks leaves it, what retention keeps comes down.
import { mkdir, open, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { parseArchiveFileName } from "../archive/naming.ts";
import { renameDurable, writeFileAtomic } from "../io/atomic-file.ts";
import type { BucketArchives } from "./bucket-archives.ts";
import { syncHolds } from "./bucket-holds.ts";
import type { Hold } from "./holds.ts";
import { readdirOrEmpty } from "./layout.ts";
import type { StoreContext } from "./store-context.ts";

/** Bytes asked for per ranged GET while an archive comes down. */
const DOWNLOAD_SLICE = 64 * 1024 * 1024;

/**
 * On an S3 storage, before `client` is served (under its lock, before the index is checked against its
 * folder): the cache's holds of `client` become the bucket's (bucket-holds.ts); every archive in the
 * cache that the bucket does not hold leaves the cache (it was never published, or another server on
 * the bucket trashed it); and of each source, the bucket's newest retention.keep archives and the one
 * a hold keeps come down when the cache lacks them, each with its signed record (ranged GETs into a
 * temp file, fsync, rename), for the index check to scan in. So a second server, or a cache deleted,
 * serves the client, lists and restores what the bucket holds live, and retention there trashes in
 * the bucket what it should, never a held archive. The bytes of the client's objects in the bucket's
 * trash are counted for its quota (StoreContext.bucketTrashBytes). Returns the files downloaded. Throws S3Error and fs errors.
 */
export async function syncFromBucket(ctx: StoreContext, bucket: BucketArchives, client: string): Promise<string[]> {
  const holds = await syncHolds(ctx, bucket, client);
  ctx.bucketTrashBytes.set(client, await trashedBytes(bucket, client));
  const live = await liveArchives(bucket, client);
  for (const file of await readdirOrEmpty(ctx.layout.clientDir(client))) {
    if (!parseArchiveFileName(file) || live.has(file)) continue;
    ctx.index.remove(client, file);
    await unlink(ctx.layout.archivePath(client, file));
    await unlink(ctx.layout.signedPath(client, file)).catch(() => undefined);
    ctx.log("info", "cache.dropped", { client, file, note: "not in the bucket (never published, or trashed by another server)" });
  }
  const downloaded: string[] = [];
  for (const file of cachedWanted(live, holds, ctx.retention.keep)) {
    if (ctx.index.archive(client, file)) continue;
    await download(ctx, bucket, client, file, live.get(file)!.size);
    downloaded.push(file);
    ctx.log("info", "cache.downloaded", { client, file, size: live.get(file)!.size });
  }
  return downloaded;
}

/** Bytes of `client`'s objects in the bucket's trash (archives and their signed records). Throws S3Error. */
async function trashedBytes(bucket: BucketArchives, client: string): Promise<number> {
  let bytes = 0;
  for await (const o of bucket.s3.listAllObjects(bucket.trashKey(client, ""))) bytes += o.size;
  return bytes;
}

/** A live object of the bucket: its size, its source and its time stamp. */
export interface LiveArchive {
  size: number;
  name: string;
  at: number;
}

/** The archives of `client` live in the bucket, by file. Throws S3Error. */
async function liveArchives(bucket: BucketArchives, client: string): Promise<Map<string, LiveArchive>> {
  const live = new Map<string, LiveArchive>();
  const prefix = bucket.archiveKey(client, "");
  for await (const o of bucket.s3.listAllObjects(prefix)) {
    const file = o.key.slice(prefix.length);
    const parsed = parseArchiveFileName(file);
    if (parsed) live.set(file, { size: o.size, name: parsed.name, at: parsed.at.getTime() });
  }
  return live;
}

/** The live archives the cache must hold: the newest `keep` of each source (as retention counts them) and each one a hold keeps. Pure. */
export function cachedWanted(live: ReadonlyMap<string, LiveArchive>, holds: readonly Hold[], keep: number): string[] {
  const byName = new Map<string, string[]>();
  for (const [file, { name }] of live) byName.set(name, [...(byName.get(name) ?? []), file]);
  const newest = (files: string[]) => files.sort((a, b) => live.get(b)!.at - live.get(a)!.at || b.localeCompare(a)).slice(0, keep);
  const wanted = new Set([...byName.values()].flatMap(newest));
  for (const { kept } of holds) if (live.has(kept)) wanted.add(kept);
  return [...wanted];
}

/** The object of (client, file), `size` bytes, into the cache under its final name, after its signed record when the bucket has one. */
async function download(ctx: StoreContext, bucket: BucketArchives, client: string, file: string, size: number): Promise<void> {
  const tmp = ctx.layout.tmpPath(`${file}.download`);
  await downloadObject(bucket, bucket.archiveKey(client, file), size, tmp);
  // the record first, as at a commit: no archive is ever in place without it
  const record = await bucket.s3.getBytes(bucket.signedKey(client, file)).catch(() => null);
  if (record) {
    await mkdir(dirname(ctx.layout.signedPath(client, file)), { recursive: true, mode: 0o750 });
    await writeFileAtomic(ctx.layout.signedPath(client, file), record, 0o640);
  }
  await mkdir(ctx.layout.clientDir(client), { recursive: true, mode: 0o750 });
  await renameDurable(tmp, ctx.layout.archivePath(client, file));
}

/** Object `key`, `size` bytes, into a new file at `path` (mode 0640) by ranged GETs, fsynced. Throws S3Error and fs errors (the file removed). */
export async function downloadObject(bucket: BucketArchives, key: string, size: number, path: string): Promise<void> {
  const out = await open(path, "w", 0o640);
  try {
    for (let start = 0; start < size; start += DOWNLOAD_SLICE) {
      const range = { start, end: Math.min(size, start + DOWNLOAD_SLICE) };
      const { body } = await bucket.s3.getObject(key, range);
      let at = start;
      for await (const part of body as unknown as AsyncIterable<Uint8Array>) {
        await out.write(part, 0, part.length, at);
        at += part.length;
      }
    }
    await out.sync();
  } catch (err) {
    await out.close();
    await unlink(path).catch(() => undefined);
    throw err;
  }
  await out.close();
}
