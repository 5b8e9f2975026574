// Keeping the chunk index in line with the archives on disk: at open, before each backup, and for a file an upload finds in place.
import { randomBytes } from "node:crypto";
import { lstat, unlink } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { parseArchiveFileName } from "../archive/naming.ts";
import { scanArchive } from "./archive-file.ts";
import type { ChunkIndex } from "./chunk-index.ts";
import type { ArchiveRow, IndexEntry } from "./index-entry.ts";
import { SIGNED_DIR, checkArchiveFile, pathExists, readdirOrEmpty } from "./layout.ts";
import { readSignedRecord, receiptAttesting } from "./signed-record.ts";
import { syncFromBucket } from "./bucket-sync.ts";
import type { StoreContext } from "./store-context.ts";

type RecordedRow = ReturnType<ChunkIndex["recorded"]>[number];

/**
 * Brings the whole index in line with the archives on disk (at open): keeps a row whose file has the
 * recorded size and mtime and whose members cover it, scans (one transaction per archive) every other
 * archive, forgets rows (and signed records) whose client folder or file is gone. Throws fs errors of the root folder.
 */
export async function syncIndex(ctx: StoreContext): Promise<void> {
  const recorded = ctx.index.recorded();
  const seen = new Set<string>();
  for (const client of await readdirOrEmpty(ctx.layout.root)) {
    if (client.startsWith(".")) continue;
    if (!isSlug(client)) {
      ctx.log("debug", "store.ignored", { path: client, reason: "not a client folder" });
      continue;
    }
    if (!(await lstat(ctx.layout.clientDir(client))).isDirectory()) continue;
    seen.add(client);
    await syncClient(
      ctx,
      client,
      recorded.filter((r) => r.client === client),
    );
  }
  for (const stale of recorded.filter((r) => !seen.has(r.client))) {
    ctx.index.remove(stale.client, stale.file);
    ctx.log("info", "catalog.orphan-removed", { client: stale.client, file: stale.file });
  }
  for (const client of await readdirOrEmpty(ctx.layout.under(SIGNED_DIR)))
    if (!seen.has(client) && isSlug(client)) await dropOrphanRecords(ctx, client, []);
}

/**
 * Before a backup of `client` (a checked client id) is answered: the index is checked against its
 * folder (one lstat per archive), so an archive deleted, truncated or replaced behind the server's
 * back is neither counted as stored nor used as a source of chunks; the next upload sends what it
 * then lacks; on an S3 storage the cache is first made to agree with the bucket (bucket-sync.ts, with
 * QUICK_TIMEOUT_MS per request). Takes the client lock. Never throws (a failure is logged and the index left as it was).
 */
export async function refreshClient(ctx: StoreContext, client: string): Promise<void> {
  await ctx.withClientLock(client, async () => {
    if (ctx.bucket)
      await syncFromBucket(ctx, ctx.bucket.quick(), client).catch((err) =>
        ctx.log("error", "bucket.sync-failed", { client, error: (err as Error).message }),
      );
    try {
      await syncClient(
        ctx,
        client,
        ctx.index.recorded().filter((r) => r.client === client),
      );
    } catch (err) {
      ctx.log("error", "index.refresh-failed", { client, error: (err as Error).message });
    }
  });
}

/**
 * Makes the index agree with `<root>/<client>/`: archives it does not know or whose size or mtime
 * moved are scanned (damaged ones logged, left in place, not indexed), records whose file is gone
 * are dropped, and so are signed records whose archive is gone. `recorded`: the index's rows of that
 * client. Throws fs errors of the folder.
 */
async function syncClient(ctx: StoreContext, client: string, recorded: RecordedRow[]): Promise<void> {
  const known = new Map(recorded.map((r) => [r.file, r]));
  const names = await readdirOrEmpty(ctx.layout.clientDir(client));
  await dropOrphanRecords(ctx, client, names);
  for (const file of names) {
    const parsed = parseArchiveFileName(file);
    if (!parsed || !isSlug(parsed.name)) {
      ctx.log("debug", "store.ignored", { path: `${client}/${file}`, reason: "not an archive name" });
      continue;
    }
    const stats = await lstat(ctx.layout.archivePath(client, file)).catch(() => null);
    if (!stats?.isFile()) continue;
    const row = known.get(file);
    known.delete(file);
    if (row && row.consistent && row.size === stats.size && row.mtimeMs === stats.mtimeMs) continue;
    if (row && !row.consistent) ctx.log("warn", "index.invalid", { client, file, reason: "its members do not cover the file" });
    if (row && row.consistent)
      ctx.log("warn", "archive.changed", {
        client,
        file,
        size: stats.size,
        recordedSize: row.size,
        note: "changed on disk since it was stored; scanned again",
      });
    try {
      const members = await scanInto(ctx, client, parsed.name, file);
      ctx.log("info", "catalog.rebuilt", { client, file, members });
    } catch (err) {
      ctx.log("error", "archive.damaged", { client, file, error: (err as Error).message });
      if (row) ctx.index.remove(client, file);
    }
  }
  for (const stale of known.values()) {
    ctx.index.remove(stale.client, stale.file);
    ctx.log("warn", "archive.vanished", {
      client: stale.client,
      file: stale.file,
      note: "indexed, but no longer in the storage folder: forgotten; its chunks are asked for again",
    });
  }
}

/**
 * The entry of `<client>/<file>` when a file is under that final name: the index's, else (an archive
 * the index lacks) one made by scanning it; undefined when there is no such file. Under the client
 * lock. Throws STORAGE when the file is there but is not a valid archive (it is never overwritten).
 */
export async function existingEntry(ctx: StoreContext, client: string, file: string): Promise<IndexEntry | undefined> {
  const known = ctx.index.archive(client, file);
  if (known) return ctx.index.entry(known);
  if (!(await pathExists(ctx.layout.archivePath(client, file)))) return undefined;
  const name = parseArchiveFileName(file)?.name ?? "";
  checkArchiveFile(name, file);
  try {
    await scanInto(ctx, client, name, file);
  } catch (err) {
    throw new HashRelayError(
      "STORAGE",
      `${client}/${file} already exists and is not a valid archive`,
      "a stored file is never overwritten",
      {
        cause: err,
      },
    );
  }
  const row = ctx.index.archive(client, file);
  return row ? ctx.index.entry(row) : undefined;
}

/**
 * Scans `<client>/<file>` and records it in the index, with the receipt and storage time of its signed
 * record when that attests this very file (else no receipt, and its mtime). Returns its member count.
 * Throws STORAGE when damaged.
 */
async function scanInto(ctx: StoreContext, client: string, name: string, file: string): Promise<number> {
  const scanned = await scanArchive(ctx.layout.archivePath(client, file), ctx.layout.tmpPath(`${randomBytes(8).toString("hex")}.members`));
  const { archiveId, piecesSha256, fileSha256, size } = scanned;
  const facts = { client, name, file, archiveId, piecesSha256, fileSha256, size };
  const kept = receiptAttesting(await readSignedRecord(ctx.layout.signedPath(client, file)), facts);
  const row: ArchiveRow = {
    client,
    name,
    file,
    archiveId,
    // the digest its receipt signed; without one both (a client may keep a receipt from before the pieces digest)
    ...(kept?.digest ?? { piecesSha256, fileSha256 }),
    size,
    mtimeMs: scanned.mtimeMs,
    storedAt: kept?.storedAt ?? new Date(scanned.mtimeMs).toISOString(),
    ...(kept ? { receipt: kept.receipt } : {}),
  };
  try {
    ctx.index.put(row, scanned.members);
  } finally {
    scanned.members.dispose();
  }
  return scanned.count;
}

/**
 * Deletes the signed records in `.signed/<client>/` whose archive is not in `<client>/` (`names`: its
 * entries): a commit cut before its rename, a move into the trash cut after it (the trash has the copy),
 * an archive deleted by hand. Failures are logged.
 */
async function dropOrphanRecords(ctx: StoreContext, client: string, names: string[]): Promise<void> {
  const present = new Set(names);
  for (const record of await readdirOrEmpty(ctx.layout.signedDir(client))) {
    const file = record.replace(/\.json$/, "");
    if (!record.endsWith(".json") || present.has(file)) continue;
    try {
      await unlink(ctx.layout.signedPath(client, file));
      ctx.log("info", "signed.orphan-removed", { client, file, note: "its archive is not in the client folder" });
    } catch (err) {
      ctx.log("warn", "signed.orphan-remove-failed", { client, file, error: (err as Error).message });
    }
  }
}
