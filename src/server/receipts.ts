// What the server answers for a stored archive: its receipt signed by the identity in force, and the hold note that travels with it.
import { digestOf } from "../protocol/file-digest.ts";
import type { HeldArchive } from "../protocol/messages.ts";
import { formatPublicKey } from "../protocol/identity.ts";
import { signDocument, type SignedDoc } from "../protocol/signed-document.ts";
import type { IndexEntry, ReceiptFacts, Store } from "../store/store.ts";
import type { ServerSessionContext, SessionScope } from "./session-context.ts";

/** `held` for have/receipt while the name is held: the client reports it (store/holds.ts). */
export function heldField(store: Store, client: string, name: string): { held?: HeldArchive } {
  const hold = store.holdOf(client, name);
  return hold ? { held: { file: hold.kept, since: hold.since, reason: hold.reason.slice(0, 300) } } : {};
}

/** The receipt of an archive with these facts, signed now by `identity` (PROTOCOL.md §7.2). Throws INTERNAL on invalid facts. */
export function signReceipt(facts: ReceiptFacts, identity: ServerSessionContext["identity"]): SignedDoc {
  const { client, name, file, archiveId, size, storedAt } = facts;
  return signDocument({ v: 1, kind: "receipt", client, name, file, archiveId, ...digestOf(facts), size, storedAt }, identity);
}

/**
 * The receipt of a stored archive, signed by the identity in force: the one kept in the index when that
 * identity signed it; else (none kept, or signed by an earlier identity, as after a reinstall with a new
 * key) signed again over the same facts and recorded (index and signed record). Throws what
 * Store.setReceipt throws.
 */
export async function receiptFor(
  entry: ReceiptFacts & Pick<IndexEntry, "receipt">,
  scope: Pick<SessionScope, "ctx" | "log">,
): Promise<SignedDoc> {
  const { ctx, log } = scope;
  if (entry.receipt && entry.receipt.key === formatPublicKey(ctx.identity.publicKey)) return entry.receipt;
  const receipt = signReceipt(entry, ctx.identity);
  await ctx.store.setReceipt(entry.client, entry.file, receipt);
  if (entry.receipt)
    log.log("info", `receipt of ${entry.client}/${entry.file} signed again by ${receipt.key} (was ${entry.receipt.key})`, {
      name: entry.name,
    });
  return receipt;
}
