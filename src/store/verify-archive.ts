// Scrubbing a stored archive: every member the index lists is inflated and checked against its chunk id.
import { HashRelayError } from "../errors.ts";
import { scrubArchive } from "./archive-file.ts";
import { scrubBucketCopy, verifyBucketObject } from "./bucket-verify.ts";
import { judgeScrub, settleDamage, type ScrubReport } from "./scrub-report.ts";
import { asStorageError } from "./storage-error.ts";
import type { StoreContext } from "./store-context.ts";

export type { ScrubReport };

/**
 * Scrubs stored archive `file` of `client` (both checked): reads and inflates every member the index
 * lists and checks it against its chunk id (commits only compare a member's SHA-256 with the one
 * recorded); on an S3 storage its object in the bucket too (bucket-verify.ts). What is wrong in either
 * is recorded (`by` found it) in the damage book, the log (archive.damaged) and the audit log
 * (damage-found.ts); a record of an archive found whole again is dropped. The archive itself is never
 * changed. On an S3 storage an archive only the bucket holds is checked there (verifyBucketObject).
 * Throws STORAGE when that archive is not stored or cannot be read (nor its object, when the store cannot be asked).
 */
export async function verifyArchive(ctx: StoreContext, client: string, file: string, by: "scrub" | "verify"): Promise<ScrubReport> {
  const row = ctx.index.archive(client, file);
  if (!row && ctx.bucket) return verifyBucketObject(ctx, ctx.bucket, client, file, by);
  if (!row) throw new HashRelayError("STORAGE", `no archive ${file} is stored for ${client}`);
  const members = ctx.index.iterateMembers(client, file);
  const result = await scrubArchive(ctx.layout.archivePath(client, file), members, row).catch((err) => {
    throw asStorageError(err, `cannot verify ${client}/${file}`);
  });
  const report = judgeScrub(row, result);
  if (ctx.bucket) report.inBucket = await scrubBucketCopy(ctx, ctx.bucket, row);
  await settleDamage(ctx, by, report);
  return report;
}
