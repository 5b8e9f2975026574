// Answering `list`: this client's stored and trashed archives, in `listing` pages.
import { digestsOf } from "../protocol/file-digest.ts";
import { MAX_LISTING_PAGE } from "../protocol/constants.ts";
import type { ListedArchive, ListMessage } from "../protocol/messages.ts";
import type { Store } from "../store/store.ts";
import type { SessionScope } from "./session-context.ts";

/** Sends the archives as `listing` pages of at most MAX_LISTING_PAGE (one empty page when there are none). Throws what the store and the session throw. */
export async function answerList(scope: SessionScope, message: ListMessage): Promise<void> {
  const archives = await listArchives(scope.ctx.store, scope.client, message.name);
  for (let at = 0; at === 0 || at < archives.length; at += MAX_LISTING_PAGE) {
    const page = archives.slice(at, at + MAX_LISTING_PAGE);
    await scope.session.sendControl({ type: "listing", archives: page, more: at + MAX_LISTING_PAGE < archives.length });
  }
  scope.log.log("info", `listed ${archives.length} archives${message.name ? ` of ${message.name}` : ""}`);
}

/** This client's stored archives (oldest first), then its trashed ones with their purge time; only of `name` when given. */
async function listArchives(store: Store, client: string, name?: string): Promise<ListedArchive[]> {
  const stored: ListedArchive[] = store
    .list(client)
    .map((e) => ({ name: e.name, file: e.file, size: e.size, archiveId: e.archiveId, ...digestsOf(e), storedAt: e.storedAt }));
  const trashed: ListedArchive[] = (await store.listTrashed(client)).map((t) => ({
    name: t.name,
    file: t.file,
    size: t.size,
    archiveId: t.archiveId,
    ...digestsOf(t),
    storedAt: t.storedAt,
    trashed: true,
    purgeAt: t.purgeAt,
  }));
  return [...stored, ...trashed].filter((a) => name === undefined || a.name === name);
}
