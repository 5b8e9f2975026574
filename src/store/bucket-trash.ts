// The bucket's trash: superseded objects moved there after retention, purged after trashFor and beyond server.s3.trashVersions per source.
import { parseArchiveFileName } from "../archive/naming.ts";
import { copyObjectAnySize } from "../io/s3-compose.ts";
import type { BucketArchives } from "./bucket-archives.ts";
import { listBucketTrashed } from "./bucket-trashed.ts";
import { refreshBucketUsage } from "./bucket-usage.ts";
import { sparedFromPurge, trashedFile } from "./damage-guard.ts";
import type { StoreContext } from "./store-context.ts";
import { listTrash, purgeExpired, type TrashItem } from "./trash.ts";

/**
 * On the server's purge timer, for an S3 storage: first the moves to the bucket's trash that failed at
 * a commit are tried again (the cache's trash lists them); then every object in `<prefix>/.trash/`
 * trashed (last written) at least `trashForMs` ago is deleted with its signed record, and so is every
 * one beyond the newest server.s3.trashVersions of its (client, source) when that is set. Each
 * version is a whole object (objects share no storage): the cap bounds what trash costs. Neither rule
 * takes the newest good trashed archive of a name whose live archives are all known damaged
 * (damage-guard.ts, as in the cache's trash). Returns what
 * it deleted (the caller audits each as a purge). Then, in the background, the bucket is listed once
 * for `status` and /metrics (bucket-usage.ts; a failure is recorded there as unreachable). Throws S3Error when the trash
 * cannot be listed; a failed delete is logged.
 */
export async function purgeBucketTrash(ctx: StoreContext, bucket: BucketArchives, trashForMs: number): Promise<TrashItem[]> {
  // what status and /metrics say of the bucket, not awaited: the caller audits the purges first, without waiting for a listing
  try {
    const purged = await purgeListedTrash(ctx, bucket, trashForMs);
    void refreshBucketUsage(ctx.layout, bucket, ctx.log, ctx.now());
    return purged;
  } catch (err) {
    void refreshBucketUsage(ctx.layout, bucket, ctx.log, ctx.now(), err as Error);
    throw err;
  }
}

/** purgeBucketTrash without the usage refresh. */
async function purgeListedTrash(ctx: StoreContext, bucket: BucketArchives, trashForMs: number): Promise<TrashItem[]> {
  const pending = new Set((await listTrash(ctx.layout, ctx.now(), ctx.log)).map((t) => t.client));
  for (const client of pending) await trashInBucket(ctx, bucket, client);
  const versions = new Map<string, { client: string; file: string; trashedAtMs: number }[]>();
  const prefix = bucket.trashPrefix();
  for await (const o of bucket.s3.listAllObjects(prefix)) {
    const [client, file, extra] = o.key.slice(prefix.length).split("/");
    const parsed = file && extra === undefined ? parseArchiveFileName(file) : null;
    if (!client || !parsed) continue; // signed records go with their archive
    const key = `${client}/${parsed.name}`;
    versions.set(key, [...(versions.get(key) ?? []), { client, file: file!, trashedAtMs: Date.parse(o.lastModified ?? "") || ctx.now() }]);
  }
  const cap = bucket.config.trashVersions ?? Number.POSITIVE_INFINITY;
  // the damage guard: a name whose live archives are all known damaged keeps its newest good trashed one
  const spared = await sparedFromPurge(ctx, (client) => listBucketTrashed(ctx, bucket, client));
  const purged: TrashItem[] = [];
  for (const list of versions.values()) {
    list.sort((a, b) => b.trashedAtMs - a.trashedAtMs);
    for (const [rank, v] of list.entries()) {
      if (rank < cap && v.trashedAtMs + trashForMs > ctx.now()) continue;
      if (spared.has(`${v.client}/${v.file}`)) {
        ctx.log("warn", "bucket.kept-last-good", { client: v.client, file: v.file, note: "every live archive of its name is damaged" });
        continue;
      }
      try {
        await bucket.s3.deleteObject(bucket.trashKey(v.client, v.file));
        await bucket.s3.deleteObject(bucket.trashedSignedKey(v.client, v.file));
      } catch (err) {
        ctx.log("error", "bucket.purge-failed", { client: v.client, file: v.file, error: (err as Error).message });
        continue;
      }
      const reason = rank >= cap ? "trashVersions" : "trashFor";
      ctx.log("info", "bucket.purged", { client: v.client, file: v.file, trashedAt: new Date(v.trashedAtMs).toISOString(), reason });
      purged.push({ client: v.client, item: v.file, trashedAtMs: v.trashedAtMs });
    }
  }
  return purged;
}

/**
 * After retention trashed archives of `client` in the cache: each one's object (and signed record)
 * moves to the bucket's trash (a copy, in parts when over S3's 5 GiB CopyObject limit, then DeleteObject), then the cached trash item is deleted
 * (an S3 store keeps no local trash: its copy is in the bucket). An item whose move fails stays in the
 * cache's trash and is moved at the next commit of the client. Logs failures, never throws.
 */
export async function trashInBucket(ctx: StoreContext, bucket: BucketArchives, client: string): Promise<void> {
  const moved = new Set<string>();
  try {
    for (const { item } of (await listTrash(ctx.layout, ctx.now(), ctx.log)).filter((t) => t.client === client)) {
      const file = trashedFile(item);
      if (!file) continue;
      const key = bucket.archiveKey(client, file);
      const facts = await bucket.s3.headObject(key);
      if (facts) {
        await copyObjectAnySize(bucket.s3, key, bucket.trashKey(client, file), facts.size); // over 5 GiB: in parts
        const signed = bucket.signedKey(client, file);
        if (await bucket.s3.headObject(signed)) await bucket.s3.copyObject(signed, bucket.trashedSignedKey(client, file));
        await bucket.s3.deleteObject(key);
        await bucket.s3.deleteObject(signed);
        ctx.log("info", "bucket.trashed", { client, file });
      }
      moved.add(item);
    }
  } catch (err) {
    ctx.log("error", "bucket.trash-failed", { client, error: (err as Error).message });
  }
  await purgeExpired(ctx.layout, 0, ctx.now(), ctx.log, (t) => t.client !== client || !moved.has(t.item));
}
