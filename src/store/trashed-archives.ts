// The trash as callers see it: the trashed archives of a client with their details and purge time, and the purge itself.
import { digestsOf, type FileDigest } from "../protocol/file-digest.ts";
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { parseArchiveFileName } from "../archive/naming.ts";
import { scanArchive } from "./archive-file.ts";
import { asStorageError } from "./storage-error.ts";
import { purgeBucketTrash } from "./bucket-trash.ts";
import { listBucketTrashed } from "./bucket-trashed.ts";
import { sparedFromPurge, trashedFile } from "./damage-guard.ts";
import type { StoreContext } from "./store-context.ts";
import { listTrash, purgeExpired, readTrashRecord, type TrashedArchive, type TrashedDetails, type TrashItem } from "./trash.ts";

export type { TrashedArchive };

/**
 * The archives of `client` in the trash as `ls` and `restore` see it: the cache's (listTrashed) and, on
 * an S3 storage, the bucket's (an object also still waiting in the cache's trash for its move is listed
 * once), oldest trashed first. A bucket that cannot be listed within QUICK_TIMEOUT_MS per request
 * (down, hung) leaves its trash out (logged bucket.trash-unreachable): the cache answers. Throws STORAGE
 * when the cache's trash cannot be listed.
 */
export async function listTrashedAnywhere(ctx: StoreContext, client: string): Promise<TrashedArchive[]> {
  const local = await listTrashed(ctx, client);
  if (!ctx.bucket) return local;
  const inBucket = await listBucketTrashed(ctx, ctx.bucket.quick(), client).catch((err) => {
    ctx.log("error", "bucket.trash-unreachable", { client, error: (err as Error).message, note: "its trash is left out" });
    return [];
  });
  const moving = new Set(local.map((t) => t.file));
  const all = [...local, ...inBucket.filter((t) => !moving.has(t.file))];
  return all.sort((a, b) => a.trashedAt.localeCompare(b.trashedAt) || a.item.localeCompare(b.item));
}

/**
 * The archives of `client` (a checked client id) waiting in the trash, oldest trashed first, with the
 * time the purge deletes them (trash time + retention.trashForMs). Details come from the sidecar; an
 * item trashed without them (older store, crash) is scanned for its ids. Items that are not our
 * archives (unreadable, foreign names) are skipped. Throws STORAGE when the trash cannot be listed.
 */
export async function listTrashed(ctx: StoreContext, client: string): Promise<TrashedArchive[]> {
  const out: TrashedArchive[] = [];
  const items = (
    await listTrash(ctx.layout, ctx.now(), ctx.log).catch((err) => {
      throw asStorageError(err, `cannot list the trash of ${client}`);
    })
  ).filter((t) => t.client === client);
  for (const { item, trashedAtMs } of items) {
    const record = await readTrashRecord(ctx.layout, client, item);
    const file = (record?.from?.startsWith(`${client}/`) ? record.from.slice(client.length + 1) : item).replace(/\.\d+$/, "");
    const name = parseArchiveFileName(file)?.name;
    if (!name || !isSlug(name)) continue;
    const recorded =
      record?.archiveId && (record.piecesSha256 || record.fileSha256) && record.size !== undefined && record.storedAt
        ? { archiveId: record.archiveId, ...digestsOf(record), size: record.size, storedAt: record.storedAt }
        : null;
    const details = recorded ?? (await scannedDetails(ctx, client, item));
    if (!details) continue;
    out.push({
      client,
      item,
      name,
      file,
      ...details,
      trashedAt: new Date(trashedAtMs).toISOString(),
      purgeAt: new Date(trashedAtMs + ctx.retention.trashForMs).toISOString(),
    });
  }
  return out.sort((a, b) => a.trashedAt.localeCompare(b.trashedAt) || a.item.localeCompare(b.item));
}

/** The details of trashed `item`, read by scanning it; null (logged trash.unreadable) when it is no archive. */
async function scannedDetails(ctx: StoreContext, client: string, item: string): Promise<TrashedDetails | null> {
  try {
    const scanned = await scanArchive(ctx.layout.trashPath(client, item), false);
    return {
      archiveId: scanned.archiveId,
      // both: a scan cannot tell which one the receipt signed, and the client compares the one its receipt has
      piecesSha256: scanned.piecesSha256,
      fileSha256: scanned.fileSha256,
      size: scanned.size,
      storedAt: new Date(scanned.mtimeMs).toISOString(),
    };
  } catch (err) {
    ctx.log("warn", "trash.unreadable", { client, item, error: (err as Error).message });
    return null;
  }
}

/**
 * Deletes trashed archives whose trash time + trashForMs ≤ now, audits each purge, and returns them;
 * spares the last good archive of a name whose stored archives are all damaged (damage-guard.ts), and
 * forgets the damage recorded for what it purged. Touches nothing but .trash (and, on an S3 storage, the
 * bucket's: bucket-trash.ts); items it cannot delete are logged and kept. Throws CONFIG on a bad
 * duration, STORAGE when the trash cannot be listed.
 */
export async function purgeTrash(ctx: StoreContext, trashForMs: number): Promise<TrashItem[]> {
  if (!Number.isFinite(trashForMs) || trashForMs < 0) {
    throw new HashRelayError("CONFIG", `trash time ${trashForMs} ms is not a duration`);
  }
  // first: the bucket, whose purge also retries the moves to its trash the cache's trash still lists
  const fromBucket = ctx.bucket ? await purgeBucketTrash(ctx, ctx.bucket, trashForMs) : [];
  const purged = await (async () => {
    const spared = await sparedFromPurge(ctx, (client) => listTrashed(ctx, client));
    for (const key of spared) ctx.log("warn", "trash.kept-last-good", { item: key, note: "every stored archive of its name is damaged" });
    return purgeExpired(ctx.layout, trashForMs, ctx.now(), ctx.log, (t) => spared.has(`${t.client}/${t.item}`));
  })().catch((err) => {
    throw asStorageError(err, "cannot purge the trash");
  });
  purged.push(...fromBucket);
  for (const { client, item, trashedAtMs } of purged) {
    await ctx.audit({ event: "purge", client, item, trashedAt: new Date(trashedAtMs).toISOString() });
    const file = trashedFile(item);
    if (file && !ctx.index.archive(client, file)) await ctx.damage.forget(client, file);
  }
  return purged;
}
