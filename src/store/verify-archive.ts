// Scrubbing a stored archive: every member the index lists is inflated and checked against its chunk id.
import { HashRelayError } from "../errors.ts";
import { describeDigest, sameDigest } from "../protocol/file-digest.ts";
import { scrubArchive, type DamagedMember } from "./archive-file.ts";
import { recordDamage } from "./damage-found.ts";
import { asStorageError } from "./storage-error.ts";
import type { StoreContext } from "./store-context.ts";

/** What Store.verifyArchive found in one stored archive. */
export interface ScrubReport {
  client: string;
  file: string;
  /** Members checked (every member the index lists). */
  members: number;
  /** The file's size on disk and the size the index recorded. */
  size: number;
  expectedSize: number;
  /** Members that do not inflate to their chunk id, in file order; [] for a sound archive. */
  damaged: DamagedMember[];
  /** True when no member is damaged and the size is right. */
  ok: boolean;
}

/**
 * Scrubs stored archive `file` of `client` (both checked): reads and inflates every member the index
 * lists and checks it against its chunk id (commits only compare a member's SHA-256 with the one
 * recorded). What is wrong is recorded (`by` found it) in the damage book, the log (archive.damaged)
 * and the audit log (damage-found.ts); a record of an archive found whole again is dropped. The
 * archive itself is never changed. Throws STORAGE when that archive is not stored or cannot be read.
 */
export async function verifyArchive(ctx: StoreContext, client: string, file: string, by: "scrub" | "verify"): Promise<ScrubReport> {
  const row = ctx.index.archive(client, file);
  if (!row) throw new HashRelayError("STORAGE", `no archive ${file} is stored for ${client}`);
  const members = ctx.index.iterateMembers(client, file);
  const result = await scrubArchive(ctx.layout.archivePath(client, file), members, row).catch((err) => {
    throw asStorageError(err, `cannot verify ${client}/${file}`);
  });
  // a member that changed shows above; bytes that changed where no member says (fillers, the tail) show here
  const digestSound = result.damaged.length > 0 || sameDigest(row, result.digest);
  const report: ScrubReport = {
    client,
    file,
    members: result.checked,
    size: result.size,
    expectedSize: row.size,
    damaged: result.damaged,
    ok: result.damaged.length === 0 && result.size === row.size && digestSound,
  };
  if (report.ok) {
    if (ctx.damage.get(client, file)) await ctx.damage.forget(client, file);
    return report;
  }
  await recordDamage(ctx, {
    client,
    file,
    by,
    members: result.damaged.map((d) => ({ index: d.index, offset: d.offset, chunkId: d.chunkId, reason: d.reason })),
    ...(result.size !== row.size
      ? { problem: `size ${result.size} bytes, ${row.size} when stored` }
      : !digestSound
        ? { problem: `${describeDigest(result.digest)}, the receipt says ${describeDigest(row)}` }
        : {}),
  });
  return report;
}
