// Scrubbing a stored archive: every member the index lists is inflated and checked against its chunk id.
import { HashRelayError } from "../errors.ts";
import { scrubArchive } from "./archive-file.ts";
import type { StoredPlace } from "./index-rows.ts";
import { scrubBucketCopy, verifyBucketObject } from "./bucket-verify.ts";
import { judgeScrub, settleDamage, type ScrubReport } from "./scrub-report.ts";
import { asStorageError } from "./storage-error.ts";
import type { StoreContext } from "./store-context.ts";

export type { ScrubReport };

/** Rows whose XXH3-64 a scrub records per transaction. */
const XXH3_BATCH = 4096;

/**
 * Scrubs stored archive `file` of `client` (both checked): reads and inflates every member the index
 * lists and checks it against its chunk id (commits only compare a member's SHA-256 with the one
 * recorded); on an S3 storage its object in the bucket too (bucket-verify.ts). What is wrong in either
 * is recorded (`by` found it) in the damage book, the log (archive.damaged) and the audit log
 * (damage-found.ts); a record of an archive found whole again is dropped. Members found intact whose
 * rows lack an XXH3-64 (an index from before that column) get it recorded. The archive itself is never
 * changed. On an S3 storage an archive only the bucket holds is checked there (verifyBucketObject).
 * Throws STORAGE when that archive is not stored or cannot be read (nor its object, when the store cannot be asked).
 */
export async function verifyArchive(ctx: StoreContext, client: string, file: string, by: "scrub" | "verify"): Promise<ScrubReport> {
  const row = ctx.index.archive(client, file);
  if (!row && ctx.bucket) return verifyBucketObject(ctx, ctx.bucket, client, file, by);
  if (!row) throw new HashRelayError("STORAGE", `no archive ${file} is stored for ${client}`);
  const members = ctx.index.iterateMembers(client, file);
  // members of an index from before the XXH3 column, found intact here: recorded for the copies of later backups
  const unhashed: { row: StoredPlace; xxh3: Uint8Array }[] = [];
  const record = (row: StoredPlace, xxh3: Uint8Array) => {
    if (unhashed.push({ row, xxh3 }) >= XXH3_BATCH) ctx.index.recordXxh3(unhashed.splice(0));
  };
  const result = await scrubArchive(ctx.layout.archivePath(client, file), members, row, record).catch((err) => {
    throw asStorageError(err, `cannot verify ${client}/${file}`);
  });
  ctx.index.recordXxh3(unhashed);
  const report = judgeScrub(row, result);
  if (ctx.bucket) report.inBucket = await scrubBucketCopy(ctx, ctx.bucket, row);
  await settleDamage(ctx, by, report);
  return report;
}
