// What a scrub found in one copy of a stored archive (the cached file, or its object in the bucket), and how findings are recorded.
import { describeDigest, sameDigest, type FileDigest } from "../protocol/file-digest.ts";
import type { DamagedMember } from "./archive-file.ts";
import { recordDamage } from "./damage-found.ts";
import type { ArchiveRow } from "./index-entry.ts";
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
  /** Why it is damaged when no member can be named: its size, or its digest against the receipt's. */
  problem?: string;
  /** True when no member is damaged and there is no problem (size and digest right). */
  ok: boolean;
  /** On an S3 storage: the bucket's object of the archive, checked the same way (null: the bucket holds none). */
  inBucket?: ScrubReport | null;
}

/** The report on a scrub `result` of stored archive `row` (a cached file, or its object in the bucket). Pure. */
export function judgeScrub(
  row: ArchiveRow,
  result: { damaged: DamagedMember[]; checked: number; size: number; digest: FileDigest },
): ScrubReport {
  // a member that changed shows in `damaged`; bytes that changed where no member says (fillers, the tail) show here
  const digestSound = result.damaged.length > 0 || sameDigest(row, result.digest);
  const problem =
    result.size !== row.size
      ? `size ${result.size} bytes, ${row.size} when stored`
      : !digestSound
        ? `${describeDigest(result.digest)}, the receipt says ${describeDigest(row)}`
        : undefined;
  return {
    client: row.client,
    file: row.file,
    members: result.checked,
    size: result.size,
    expectedSize: row.size,
    damaged: result.damaged,
    ...(problem ? { problem } : {}),
    ok: result.damaged.length === 0 && problem === undefined,
  };
}

/**
 * Records what `report` (and its bucket object's report) found wrong in the damage book (members of
 * both, by offset: the object holds the cached file's bytes), or forgets the archive's record when
 * both are whole. Never throws.
 */
export async function settleDamage(ctx: StoreContext, by: "scrub" | "verify", report: ScrubReport): Promise<void> {
  const { client, file } = report;
  const copies = [report, ...(report.inBucket ? [report.inBucket] : [])];
  if (copies.every((r) => r.ok)) {
    if (ctx.damage.get(client, file)) await ctx.damage.forget(client, file);
    return;
  }
  const problem = copies.find((r) => r.problem)?.problem;
  await recordDamage(ctx, {
    client,
    file,
    by,
    members: copies.flatMap((r) => r.damaged.map((d) => ({ index: d.index, offset: d.offset, chunkId: d.chunkId, reason: d.reason }))),
    ...(problem ? { problem } : {}),
  });
}
