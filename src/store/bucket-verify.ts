// Scrubbing an S3 storage's bucket: each live archive object read by ranged GETs and checked as a cached file is (index, signed record).
import { parseArchiveFileName } from "../archive/naming.ts";
import { HashRelayError } from "../errors.ts";
import { scanReadable, scrubReadable } from "./archive-file.ts";
import type { BucketArchives } from "./bucket-archives.ts";
import { BucketObjectReader } from "./bucket-object-reader.ts";
import type { ArchiveRow } from "./index-entry.ts";
import type { ScrubCandidate } from "./scrub-schedule.ts";
import { judgeScrub, settleDamage, type ScrubReport } from "./scrub-report.ts";
import { parseSignedRecord, receiptAttesting } from "./signed-record.ts";
import { asStorageError } from "./storage-error.ts";
import type { StoreContext } from "./store-context.ts";

/** A live archive object: its client, file and size (from a listing). */
export interface BucketObject {
  client: string;
  file: string;
  size: number;
}

/**
 * The bucket's object of indexed archive `row`, each member the index lists read by ranged GETs,
 * inflated and checked against its chunk id, and the object's digest against the receipt's: as
 * scrubArchive checks the cached file. Null when the bucket holds no such object (never published: the
 * next sync drops the cached file). Records nothing (verifyArchive records both copies' findings).
 * Throws STORAGE when the store cannot be asked.
 */
export async function scrubBucketCopy(ctx: StoreContext, bucket: BucketArchives, row: ArchiveRow): Promise<ScrubReport | null> {
  const key = bucket.archiveKey(row.client, row.file);
  const where = objectUrl(bucket, row.client, row.file);
  const facts = await bucket.s3.headObject(key).catch((err) => {
    throw asStorageError(err, `cannot verify ${where}`);
  });
  if (!facts) return null;
  const reader = new BucketObjectReader(bucket.s3, key, facts.size);
  const result = await scrubReadable(reader, where, facts.size, ctx.index.iterateMembers(row.client, row.file), row);
  if (reader.failure) throw asStorageError(reader.failure, `cannot verify ${where}`);
  return inTheBucket(judgeScrub(row, result));
}

/**
 * Checks live object `file` of `client` that the index does not hold (an older archive of a name, with
 * keep > 1, after the cache was rebuilt): scanned member by member (each inflates, fillers in place)
 * and its archive id, digest and size checked against the receipt of its signed record in the bucket
 * (without a record: its members alone). Records the findings (`by`) as verifyArchive does. Throws
 * STORAGE when the bucket holds no such object or the store cannot be asked.
 */
export async function verifyBucketObject(
  ctx: StoreContext,
  bucket: BucketArchives,
  client: string,
  file: string,
  by: "scrub" | "verify",
): Promise<ScrubReport> {
  const where = objectUrl(bucket, client, file);
  const key = bucket.archiveKey(client, file);
  const facts = await bucket.s3.headObject(key).catch((err) => {
    throw asStorageError(err, `cannot verify ${where}`);
  });
  if (!facts) throw new HashRelayError("STORAGE", `no archive ${file} is stored for ${client}`);
  const report: ScrubReport = { client, file, members: 0, size: facts.size, expectedSize: facts.size, damaged: [], ok: true };
  const scan = await scanObject(bucket, key, where, facts.size);
  if ("problem" in scan) report.problem = scan.problem;
  else {
    report.members = scan.scanned.count;
    const record = await bucket.s3.getBytes(bucket.signedKey(client, file)).then(
      (bytes) => parseSignedRecord(new TextDecoder().decode(bytes)),
      () => null,
    );
    const name = parseArchiveFileName(file)?.name ?? "";
    if (record && !receiptAttesting(record, { client, name, file, ...scan.scanned })) {
      report.problem = "its archive id, digest or size is not what its signed receipt attests";
    }
  }
  report.ok = report.problem === undefined;
  await settleDamage(ctx, by, report);
  return report;
}

/** What `server verify` says of an object in the bucket's trash: its URL, and its members or why it is not an archive. */
export interface TrashedObjectScan {
  file: string;
  url: string;
  size: number;
  members: number;
  problem?: string;
}

/**
 * Each archive object in the bucket's trash of `client`, scanned as `server verify` scans a trashed
 * file of the cache: every member must inflate (a trashed archive has no index to compare with).
 * Records nothing. Throws STORAGE when the store cannot be asked.
 */
export async function scanBucketTrash(bucket: BucketArchives, client: string): Promise<TrashedObjectScan[]> {
  const prefix = bucket.trashKey(client, "");
  const objects: { file: string; size: number }[] = [];
  try {
    for await (const o of bucket.s3.listAllObjects(prefix)) {
      const file = o.key.slice(prefix.length);
      if (parseArchiveFileName(file)) objects.push({ file, size: o.size }); // signed records go with their archive
    }
  } catch (err) {
    throw asStorageError(err, `cannot list the trash of ${client} in ${bucket.config.url}`);
  }
  const out: TrashedObjectScan[] = [];
  for (const { file, size } of objects) {
    const url = `s3://${bucket.config.bucket}/${bucket.trashKey(client, file)}`;
    const scan = await scanObject(bucket, bucket.trashKey(client, file), url, size);
    out.push({ file, url, size, ...("problem" in scan ? { members: 0, problem: scan.problem } : { members: scan.scanned.count }) });
  }
  return out;
}

/** Object `key` (`size` bytes) scanned member by member, or why it is not a sequence of our members. Throws STORAGE when the store cannot be asked. */
async function scanObject(
  bucket: BucketArchives,
  key: string,
  where: string,
  size: number,
): Promise<{ scanned: Awaited<ReturnType<typeof scanReadable>> } | { problem: string }> {
  const reader = new BucketObjectReader(bucket.s3, key, size);
  try {
    return { scanned: await scanReadable(reader, where, size, false) };
  } catch (err) {
    if (reader.failure || !(err instanceof HashRelayError)) throw asStorageError(reader.failure ?? err, `cannot verify ${where}`);
    return { problem: err.message }; // not a sequence of our members: damaged, as the scan says where
  }
}

/**
 * The live archive objects in the bucket (`<prefix>/<client>/<file>`; trash and HashRelay's own keys
 * aside), of `client` only when given. Throws STORAGE when the bucket cannot be listed.
 */
export async function liveObjects(bucket: BucketArchives, client?: string): Promise<BucketObject[]> {
  const prefix = bucket.archiveKey("", "").slice(0, -1); // "<prefix>/" ("" at the bucket's root)
  const out: BucketObject[] = [];
  try {
    for await (const o of bucket.s3.listAllObjects(client ? bucket.archiveKey(client, "") : prefix)) {
      const [owner, file, extra] = o.key.slice(prefix.length).split("/");
      if (!owner || owner.startsWith(".") || !file || extra !== undefined || !parseArchiveFileName(file)) continue;
      out.push({ client: owner, file, size: o.size });
    }
  } catch (err) {
    throw asStorageError(err, `cannot list ${bucket.config.url}`);
  }
  return out;
}

/**
 * What the scheduled scrub chooses from on an S3 storage: each indexed archive counted at twice its
 * size (its cached file and its object are both read), and each live object the index lacks. Throws STORAGE.
 */
export async function bucketScrubCandidates(ctx: StoreContext, bucket: BucketArchives): Promise<ScrubCandidate[]> {
  const indexed = ctx.index.everyArchive().map((a) => ({ ...a, size: 2 * a.size }));
  const unindexed = (await liveObjects(bucket))
    .filter((o) => !ctx.index.archive(o.client, o.file))
    .map((o) => ({ ...o, storedAt: parseArchiveFileName(o.file)?.at.toISOString() ?? "" }));
  return [...indexed, ...unindexed];
}

/** `s3://bucket/prefix/client/file`: how reports and damage reasons name an object. */
export function objectUrl(bucket: BucketArchives, client: string, file: string): string {
  return `s3://${bucket.config.bucket}/${bucket.archiveKey(client, file)}`;
}

/** `report` with its reasons saying they were found in the bucket's object, not the cached file. */
function inTheBucket(report: ScrubReport): ScrubReport {
  const damaged = report.damaged.map((d) => ({ ...d, reason: `in the bucket: ${d.reason}` }));
  return { ...report, damaged, ...(report.problem ? { problem: `in the bucket: ${report.problem}` } : {}) };
}
