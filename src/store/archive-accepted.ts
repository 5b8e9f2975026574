// What follows an archive's install: index it, tell the audit trail, guard its name against a suspect replacement, apply retention.
import { digestOf } from "../protocol/file-digest.ts";
import { publishOrUndo } from "./bucket-publish.ts";
import { trashInBucket } from "./bucket-trash.ts";
import { guardReplacement } from "./hold-guard.ts";
import type { ArchiveRow, IndexEntry } from "./index-entry.ts";
import type { MemberTable } from "./member-table.ts";
import { applyRetention } from "./retention.ts";
import type { StoreContext } from "./store-context.ts";

/**
 * An archive (`row`, `members`) is in place under its final name: records it in the index (a failure
 * is logged; the next open's scan finds it), audits accept and supersede, judges it against its
 * predecessor (holds), calls `stored` (the session's receipt: the client need not wait for the trash),
 * then applies retention for its name. Under the client lock. Returns its entry. Logs failures; throws
 * only on an S3 storage, when the archive could not be published to the bucket (it is then taken out of
 * the store again: bucket-publish.ts).
 */
export async function acceptArchive(
  ctx: StoreContext,
  row: ArchiveRow,
  members: MemberTable,
  stored?: (entry: IndexEntry) => Promise<void>,
): Promise<IndexEntry> {
  ctx.log("info", "archive.stored", { client: row.client, file: row.file, size: row.size });
  try {
    ctx.index.put(row, members);
  } catch (err) {
    ctx.log("error", "index.write-failed", { client: row.client, file: row.file, error: (err as Error).message });
  }
  if (ctx.bucket) await publishOrUndo(ctx, ctx.bucket, row);
  const { client, name, file, archiveId, size } = row;
  await ctx.audit({ event: "accept", client, name, file, archiveId, ...digestOf(row), size });
  const previous = ctx.index
    .archives(client)
    .filter((e) => e.name === name && e.file !== file)
    .at(-1);
  if (previous) await ctx.audit({ event: "supersede", client, name, file: previous.file, replacedBy: file });
  // A hold that could not be judged or written must not cost the last good copy: no retention this time.
  const retire = !previous || (await guardReplacement(ctx, row, previous));
  await stored?.(ctx.index.entry(row));
  if (retire) await applyRetention(ctx, client, name, file);
  if (ctx.bucket) await trashInBucket(ctx, ctx.bucket, client);
  return ctx.index.entry(row);
}
