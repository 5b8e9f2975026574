// Retention at work: the archives of a name beyond retention.keep go to the trash, never the one a hold keeps.
import { digestsOf } from "../protocol/file-digest.ts";
import { lastGoodToKeep } from "./damage-guard.ts";
import type { StoreContext } from "./store-context.ts";
import { moveToTrash } from "./trash.ts";

/**
 * Trashes the archives of (client, name) beyond the newest retention.keep, counting `stored` (the
 * archive just stored, never trashed) first; never the one a hold keeps. Call it under the client
 * lock; when every archive that stays is known damaged, the newest good one stays too. Logs failures,
 * never throws.
 */
export async function applyRetention(ctx: StoreContext, client: string, name: string, stored?: string): Promise<void> {
  const { index, layout, log, retention } = ctx;
  const kept = ctx.holdBook.get(client, name)?.kept;
  const others = index
    .archives(client)
    .filter((e) => e.name === name && e.file !== kept && e.file !== stored)
    .reverse();
  const replacedBy = stored ?? others[0]?.file ?? "";
  const cut = stored ? retention.keep - 1 : retention.keep;
  const staying = [...(stored ? [stored] : []), ...(kept ? [kept] : []), ...others.slice(0, cut).map((e) => e.file)];
  // the last good archive of the name stays while every newer one is damaged (damage-guard.ts)
  const lastGood = lastGoodToKeep(
    ctx,
    client,
    staying,
    others.slice(cut).map((e) => e.file),
  );
  for (const old of others.slice(cut).filter((e) => e.file !== lastGood)) {
    try {
      const item = await moveToTrash(layout, old.client, old.file, ctx.now(), {
        archiveId: old.archiveId,
        ...digestsOf(old),
        size: old.size,
        storedAt: old.storedAt,
      });
      index.remove(old.client, old.file);
      log("info", "archive.trashed", { client: old.client, file: old.file, item, replacedBy });
      await ctx.audit({ event: "trash", client, name, file: old.file, item, replacedBy });
    } catch (err) {
      log("error", "retention.failed", { client: old.client, file: old.file, error: (err as Error).message });
    }
  }
}
