// The bucket's trash as `ls` and `restore --file` see it: each trashed object's details from its signed record, and the object fetched for a restore.
import { randomBytes } from "node:crypto";
import { unlink } from "node:fs/promises";
import { parseArchiveFileName } from "../archive/naming.ts";
import { isSlug } from "../config/slug.ts";
import { writeFileAtomic } from "../io/atomic-file.ts";
import { digestOf } from "../protocol/file-digest.ts";
import { checkReceiptBody } from "../protocol/signed-document.ts";
import type { BucketArchives } from "./bucket-archives.ts";
import { downloadObject } from "./bucket-sync.ts";
import { parseSignedRecord } from "./signed-record.ts";
import type { StoreContext } from "./store-context.ts";
import type { TrashedArchive } from "./trash.ts";

/**
 * The archives of `client` in the bucket's trash (`<prefix>/.trash/<client>/<file>`), each with the
 * details its trashed signed record's receipt attests; trashed at the object's LastModified, purged
 * trashFor after it (server.s3.trashVersions may purge it sooner). An object without a readable record
 * is skipped (logged bucket.trash-unlisted): nothing could anchor its restore. Throws S3Error.
 */
export async function listBucketTrashed(ctx: StoreContext, bucket: BucketArchives, client: string): Promise<TrashedArchive[]> {
  const prefix = bucket.trashKey(client, "");
  const out: TrashedArchive[] = [];
  for await (const o of bucket.s3.listAllObjects(prefix)) {
    const file = o.key.slice(prefix.length);
    const name = parseArchiveFileName(file)?.name;
    if (!name || !isSlug(name)) continue; // signed records go with their archive
    const record = parseSignedRecord(
      new TextDecoder().decode(await bucket.s3.getBytes(bucket.trashedSignedKey(client, file)).catch(() => new Uint8Array(0))),
    );
    const body = record && attested(record.receipt.body, client, file);
    if (!body) {
      ctx.log("warn", "bucket.trash-unlisted", { client, file, note: "no readable signed record beside it" });
      continue;
    }
    const trashedAtMs = Date.parse(o.lastModified ?? "") || ctx.now();
    out.push({
      client,
      item: file,
      name,
      file,
      archiveId: body.archiveId,
      ...digestOf(body),
      size: body.size,
      storedAt: body.storedAt,
      trashedAt: new Date(trashedAtMs).toISOString(),
      purgeAt: new Date(trashedAtMs + ctx.retention.trashForMs).toISOString(),
      inBucket: true,
    });
  }
  return out;
}

/** The receipt body `text` when it is one for (client, file), else null. */
function attested(text: string, client: string, file: string): ReturnType<typeof checkReceiptBody> | null {
  try {
    const body = checkReceiptBody(JSON.parse(text));
    return body.client === client && body.file === file ? body : null;
  } catch {
    return null;
  }
}

/** A trashed object fetched into the cache's temp folder for reading: its file, its signed record's, and their removal. */
export interface FetchedTrashed {
  path: string;
  recordPath: string;
  remove: () => Promise<void>;
}

/**
 * Fetches `trashed` (listed by listBucketTrashed) from the bucket's trash into temp files of the
 * cache (ranged GETs, fsync), with its signed record, for a restore to scan and send like a trashed
 * archive of the cache. The caller calls remove() when done. Throws S3Error and fs errors (the temp files removed).
 */
export async function fetchBucketTrashed(ctx: StoreContext, bucket: BucketArchives, trashed: TrashedArchive): Promise<FetchedTrashed> {
  const { client, file, size } = trashed;
  const base = ctx.layout.tmpPath(`${randomBytes(8).toString("hex")}.${file}`);
  const fetched = { path: base, recordPath: `${base}.signed.json` };
  const remove = async () => {
    await unlink(fetched.path).catch(() => undefined);
    await unlink(fetched.recordPath).catch(() => undefined);
  };
  try {
    await downloadObject(bucket, bucket.trashKey(client, file), size, fetched.path);
    await writeFileAtomic(fetched.recordPath, await bucket.s3.getBytes(bucket.trashedSignedKey(client, file)), 0o640);
  } catch (err) {
    await remove();
    throw err;
  }
  ctx.log("info", "bucket.trash-fetched", { client, file, size });
  return { ...fetched, remove };
}
