// A damaged latest archive never sends the last good one away: retention and the trash purge keep it until a good successor is stored.
import { parseArchiveFileName } from "../archive/naming.ts";
import type { StoreContext } from "./store-context.ts";

/** What the guard needs of a trashed archive (a TrashedArchive). */
export interface TrashedFacts {
  item: string;
  name: string;
  file: string;
  storedAt: string;
}

/** True when (client, file) is not known damaged (damage-book.ts): the verified-good archives. */
export function isGood(ctx: StoreContext, client: string, file: string): boolean {
  return ctx.damage.get(client, file) === undefined;
}

/**
 * Of `leaving` (archives of one name retention is about to trash, newest first), the one to keep
 * instead: the newest good one, when none of `staying` (the archives of that name that stay) is good;
 * else undefined. Pure over the damage book.
 */
export function lastGoodToKeep(
  ctx: StoreContext,
  client: string,
  staying: readonly string[],
  leaving: readonly string[],
): string | undefined {
  if (staying.some((file) => isGood(ctx, client, file))) return undefined;
  return leaving.find((file) => isGood(ctx, client, file));
}

/**
 * The trashed items ("client/item") the purge must spare: for each name of a client with damage whose
 * stored archives are all known damaged, its newest good trashed archive (by stored time). `trashed`
 * lists a client's trash (listTrashed); what it throws passes through.
 */
export async function sparedFromPurge(ctx: StoreContext, trashed: (client: string) => Promise<TrashedFacts[]>): Promise<Set<string>> {
  const spared = new Set<string>();
  // only clients with a damaged archive still stored: the purge runs every minute, and a trash listing reads every sidecar
  const clients = new Set(ctx.damage.all().flatMap((d) => (ctx.index.archive(d.client, d.file) ? [d.client] : [])));
  for (const client of clients) {
    const stored = ctx.index.archives(client);
    const names = new Set(stored.map((a) => a.name));
    const inTrash = await trashed(client);
    for (const name of names) {
      if (stored.some((a) => a.name === name && isGood(ctx, client, a.file))) continue;
      const good = inTrash
        .filter((t) => t.name === name && isGood(ctx, client, t.file))
        .sort((a, b) => a.storedAt.localeCompare(b.storedAt))
        .at(-1);
      if (good) spared.add(`${client}/${good.item}`);
    }
  }
  return spared;
}

/** The archive file a trash item was (its name without the ".N" a second item of that name gets), if it is one. */
export function trashedFile(item: string): string | undefined {
  const file = item.replace(/\.\d+$/, "");
  return parseArchiveFileName(file) ? file : undefined;
}
