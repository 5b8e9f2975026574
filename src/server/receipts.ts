// What the server answers for a stored archive: its signed receipt, and the hold note that travels with it.
import type { HeldArchive } from "../protocol/messages.ts";
import { signDocument, type SignedDoc } from "../protocol/signed-document.ts";
import type { IndexEntry, Store } from "../store/store.ts";
import type { ServerSessionContext } from "./session-context.ts";

/** `held` for have/receipt while the name is held: the client reports it (store/holds.ts). */
export function heldField(store: Store, client: string, name: string): { held?: HeldArchive } {
  const hold = store.holdOf(client, name);
  return hold ? { held: { file: hold.kept, since: hold.since, reason: hold.reason.slice(0, 300) } } : {};
}

/** The signed receipt of a stored archive (kept in the index, signed once). Throws what Store.setReceipt throws. */
export async function receiptFor(entry: IndexEntry, ctx: Pick<ServerSessionContext, "identity" | "store">): Promise<SignedDoc> {
  if (entry.receipt) return entry.receipt;
  const receipt = signDocument(
    {
      v: 1,
      kind: "receipt",
      client: entry.client,
      name: entry.name,
      file: entry.file,
      archiveId: entry.archiveId,
      fileSha256: entry.fileSha256,
      size: entry.size,
      storedAt: entry.storedAt,
    },
    ctx.identity,
  );
  await ctx.store.setReceipt(entry.client, entry.file, receipt);
  return receipt;
}
