// The receipts a client keeps (<client.state>/receipts/NAME/FILE.receipt.json): read and checked against the server's key.
import fs from "node:fs";
import path from "node:path";
import { HashRelayError } from "../errors.ts";
import { verifyDocument, type ReceiptBody } from "../protocol/signed-document.ts";

/** Reads and checks one receipt file. Throws USAGE when unreadable or not JSON, UNAUTHORIZED on a wrong key or bad signature, BAD_FRAME on a malformed receipt. */
export function verifyReceiptFile(file: string, serverKey: Uint8Array): ReceiptBody {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new HashRelayError(
      "USAGE",
      `cannot read receipt ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      "receipts are kept under <client.state>/receipts/<name>/",
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new HashRelayError("BAD_FRAME", `receipt ${file} is not JSON`);
  }
  return verifyDocument(doc, serverKey, "receipt");
}

/**
 * The receipt this client kept for archive `file` of source `name` (<state>/receipts/NAME/FILE.receipt.json),
 * checked against the server key and the client's name. Throws USAGE when none is kept, HASH_MISMATCH when
 * it is for another archive, and what verifyReceiptFile throws.
 */
export function keptReceipt(client: { name: string; state: string; serverKey: Uint8Array }, name: string, file: string): ReceiptBody {
  const receiptFile = path.join(client.state, "receipts", name, `${file}.receipt.json`);
  if (!fs.existsSync(receiptFile)) {
    throw new HashRelayError(
      "USAGE",
      `no kept receipt for ${file} (${receiptFile})`,
      "run this on the client that made the backup, with its state folder",
    );
  }
  const receipt = verifyReceiptFile(receiptFile, client.serverKey);
  if (receipt.file !== file || receipt.name !== name || receipt.client !== client.name)
    throw new HashRelayError("HASH_MISMATCH", `receipt ${receiptFile} is for ${receipt.client}/${receipt.file}`);
  return receipt;
}
