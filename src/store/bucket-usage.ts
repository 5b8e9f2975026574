// What an S3 storage's bucket holds and whether it answers, as the purge's last listing found it: for `status` and /metrics.
import { readFileSync } from "node:fs";
import { parseArchiveFileName } from "../archive/naming.ts";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { BucketArchives } from "./bucket-archives.ts";
import { DERIVED_DIR, StoreLayout } from "./layout.ts";
import type { StoreLog } from "./store-log.ts";

/** The bucket as last listed (`<cache>/.hashrelay/bucket.json`). */
export interface BucketUsage {
  /** server.storage (s3://bucket/prefix) and the endpoint it was reached at. */
  url: string;
  endpoint: string;
  /** Whether the last attempt to list it succeeded. */
  reachable: boolean;
  /** When it was last listed whole (ISO 8601), null before the first success: the counts are from then. */
  listedAt: string | null;
  /** Archive objects (`<prefix>/<client>/<file>`) and their bytes. */
  liveObjects: number;
  liveBytes: number;
  /** Trashed archive objects (`<prefix>/.trash/…`, signed records aside) and their bytes. */
  trashObjects: number;
  trashBytes: number;
  /** The last failure to reach it and when; kept once it answers again. */
  lastError: string | null;
  lastErrorAt: string | null;
}

const FILE_NAME = "bucket.json";

/**
 * Lists `bucket`'s prefix once and writes what it holds to the cache (`layout`); with `failure` (what
 * the caller's own request to the store threw) it lists nothing and records the bucket as unreachable,
 * keeping the counts of the last listing. Called by the purge (at start and every minute), never per
 * request. Never throws: a listing that fails is recorded the same way, and a write that fails is logged.
 */
export async function refreshBucketUsage(
  layout: StoreLayout,
  bucket: BucketArchives,
  log: StoreLog,
  nowMs: number,
  failure?: Error,
): Promise<BucketUsage> {
  const previous = readBucketUsage(layout.root);
  const at = new Date(nowMs).toISOString();
  const base = { url: bucket.config.url, endpoint: bucket.s3.target.endpoint };
  let usage: BucketUsage;
  try {
    if (failure) throw failure;
    const counts = await countObjects(bucket);
    usage = {
      ...base,
      reachable: true,
      listedAt: at,
      ...counts,
      lastError: previous?.lastError ?? null,
      lastErrorAt: previous?.lastErrorAt ?? null,
    };
  } catch (err) {
    const counts = previous ?? { listedAt: null, liveObjects: 0, liveBytes: 0, trashObjects: 0, trashBytes: 0 };
    const { listedAt, liveObjects, liveBytes, trashObjects, trashBytes } = counts;
    usage = {
      ...base,
      reachable: false,
      listedAt,
      liveObjects,
      liveBytes,
      trashObjects,
      trashBytes,
      lastError: (err as Error).message,
      lastErrorAt: at,
    };
    if (previous?.reachable !== false) log("error", "bucket.unreachable", { bucket: base.url, error: (err as Error).message });
  }
  await writeFileAtomic(layout.under(DERIVED_DIR, FILE_NAME), `${JSON.stringify(usage)}\n`, 0o640).catch((err: Error) =>
    log("error", "bucket.usage-write-failed", { error: err.message }),
  );
  return usage;
}

/** What the last refresh wrote in the cache at `root`, or null when there is none (or it cannot be read). Never throws. */
export function readBucketUsage(root: string): BucketUsage | null {
  try {
    const value = JSON.parse(readFileSync(new StoreLayout(root).under(DERIVED_DIR, FILE_NAME), "utf8")) as BucketUsage;
    return typeof value.reachable === "boolean" && typeof value.url === "string" ? value : null;
  } catch {
    return null;
  }
}

/** The archive objects, live and trashed, under the bucket's prefix, and their bytes. Throws S3Error. */
async function countObjects(
  bucket: BucketArchives,
): Promise<Pick<BucketUsage, "liveObjects" | "liveBytes" | "trashObjects" | "trashBytes">> {
  const prefix = bucket.archiveKey("", "").slice(0, -1); // "<prefix>/" ("" at the bucket's root)
  const counts = { liveObjects: 0, liveBytes: 0, trashObjects: 0, trashBytes: 0 };
  for await (const o of bucket.s3.listAllObjects(prefix)) {
    const [top, client, file, extra] = o.key.slice(prefix.length).split("/");
    if (top === ".trash" && client && file && extra === undefined && parseArchiveFileName(file)) {
      counts.trashObjects++;
      counts.trashBytes += o.size;
    } else if (top && !top.startsWith(".") && client && file === undefined && parseArchiveFileName(client)) {
      counts.liveObjects++;
      counts.liveBytes += o.size;
    }
  }
  return counts;
}
