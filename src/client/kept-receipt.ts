// The receipts a client keeps (<client.state>/receipts/NAME/FILE.receipt.json): read and checked against the server keys it pinned.
import fs from "node:fs";
import path from "node:path";
import { HashRelayError } from "../errors.ts";
import { formatPublicKey, parsePublicKey } from "../protocol/identity.ts";
import { verifyDocument, type ReceiptBody } from "../protocol/signed-document.ts";
import type { EarlierServerKey, ServerPins } from "./pinned-keys.ts";

/** Reads one receipt file as JSON. Throws USAGE when unreadable, BAD_FRAME when not JSON. */
function readReceiptFile(file: string): unknown {
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
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HashRelayError("BAD_FRAME", `receipt ${file} is not JSON`);
  }
}

/** Reads and checks one receipt file. Throws USAGE when unreadable or not JSON, UNAUTHORIZED on a wrong key or bad signature, BAD_FRAME on a malformed receipt. */
export function verifyReceiptFile(file: string, serverKey: Uint8Array): ReceiptBody {
  return verifyDocument(readReceiptFile(file), serverKey, "receipt");
}

/** A kept receipt, checked, and the pinned key that signed it (`until` set when it is a key pinned before the current one). */
export interface CheckedReceipt {
  body: ReceiptBody;
  signer: { key: string; until?: string };
}

/**
 * Reads and checks one receipt file against the keys this client pinned: the current server key, or one
 * pinned before it as long as the receipt says it was stored while that key was pinned. Throws
 * UNAUTHORIZED naming the signer when no pinned key signed it (or the signature does not verify), and
 * what verifyReceiptFile throws.
 */
export function verifyPinnedReceipt(file: string, pins: ServerPins): CheckedReceipt {
  const doc = readReceiptFile(file);
  const signerText = typeof (doc as { key?: unknown })?.key === "string" ? (doc as { key: string }).key : "";
  const current = formatPublicKey(pins.current);
  const earlier: EarlierServerKey | undefined = signerText === current ? undefined : pins.before.find((k) => k.key === signerText);
  if (!earlier) return { body: verifyDocument(doc, pins.current, "receipt"), signer: { key: current } };
  const body = verifyDocument(doc, parsePublicKey(earlier.key)!, "receipt");
  if (body.storedAt > earlier.until)
    throw new HashRelayError(
      "UNAUTHORIZED",
      `receipt ${file} is signed by ${earlier.key}, pinned only until ${earlier.until}, but says it was stored at ${body.storedAt}`,
      "a receipt an earlier server key signed after it was replaced is not one this client was given",
    );
  return { body, signer: earlier };
}

/**
 * The receipt this client kept for archive `file` of source `name` (<state>/receipts/NAME/FILE.receipt.json),
 * checked against the keys it pinned and the client's name; null when none is kept. Throws HASH_MISMATCH
 * when it is for another archive, and what verifyPinnedReceipt throws.
 */
export function findKeptReceipt(
  client: { name: string; state: string },
  pins: ServerPins,
  name: string,
  file: string,
): CheckedReceipt | null {
  const receiptFile = path.join(client.state, "receipts", name, `${file}.receipt.json`);
  if (!fs.existsSync(receiptFile)) return null;
  const receipt = verifyPinnedReceipt(receiptFile, pins);
  const { body } = receipt;
  if (body.file !== file || body.name !== name || body.client !== client.name)
    throw new HashRelayError("HASH_MISMATCH", `receipt ${receiptFile} is for ${body.client}/${body.file}`);
  return receipt;
}
