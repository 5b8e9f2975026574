// Recording the server's signed receipt of a stored archive: in its index entry and in its signed record.
import { HashRelayError } from "../errors.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
import { isSignedDocShape, type IndexEntry } from "./index-entry.ts";
import { readSignedRecord, writeSignedRecord } from "./signed-record.ts";
import { asStorageError } from "./storage-error.ts";
import type { StoreContext } from "./store-context.ts";

/**
 * Stores `receipt` with the index entry of `file` of (checked) `client` and in its signed record (the
 * client's manifest, if recorded, is kept), under the client lock, and returns the updated entry. Throws
 * INTERNAL when `receipt` is not a {body, sig, key} document, STORAGE when that archive is not stored
 * (any more) or the index or the record cannot be written.
 */
export async function recordReceipt(ctx: StoreContext, client: string, file: string, receipt: SignedDoc): Promise<IndexEntry> {
  if (!isSignedDocShape(receipt)) throw new HashRelayError("INTERNAL", `receipt for ${client}/${file} is not a signed document`);
  return ctx.withClientLock(client, async () => {
    const doc = { body: receipt.body, sig: receipt.sig, key: receipt.key };
    let recorded: boolean;
    try {
      recorded = ctx.index.setReceipt(client, file, doc);
    } catch (err) {
      throw asStorageError(err, `cannot record the receipt of ${client}/${file}`);
    }
    const row = recorded ? ctx.index.archive(client, file) : undefined;
    if (!row) throw new HashRelayError("STORAGE", `no archive ${file} is stored for ${client}`);
    const path = ctx.layout.signedPath(client, file);
    const manifest = (await readSignedRecord(path))?.manifest;
    await writeSignedRecord(path, { ...(manifest ? { manifest } : {}), receipt: doc }).catch((err) => {
      throw asStorageError(err, `cannot record the receipt of ${client}/${file}`);
    });
    return ctx.index.entry(row);
  });
}
