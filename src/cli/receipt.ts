// `hashrelay receipt verify FILE --server-key ed25519:...`: checks a kept receipt offline and prints what it attests.
import fs from "node:fs";
import path from "node:path";
import { EXIT, HashRelayError, asHashRelayError } from "../errors.ts";
import { parsePublicKey } from "../protocol/identity.ts";
import { verifyDocument, type ReceiptBody } from "../protocol/signed-document.ts";
import { parseArgs } from "./args.ts";

const USAGE_HINT = "example: hashrelay receipt verify state/receipts/www/backup-www-….tar.gz.receipt.json --server-key ed25519:…";

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

/** Exit 0 valid; 4 wrong key or bad signature; 2 usage, unreadable or malformed receipt. */
export function receipt(argv: string[]): number {
  const args = parseArgs(argv, { values: ["--server-key"], flags: ["--json"] }, "receipt");
  const [sub, file, ...extra] = args.positionals;
  const keyText = args.values.get("--server-key");
  if (sub !== "verify" || !file || extra.length > 0 || !keyText)
    throw new HashRelayError("USAGE", "receipt needs: verify FILE --server-key ed25519:...", USAGE_HINT);
  const key = parsePublicKey(keyText);
  if (!key)
    throw new HashRelayError(
      "USAGE",
      `--server-key ${JSON.stringify(keyText)} is not an ed25519:<base64> public key`,
      "copy the server's key from the client config (client.serverKey)",
    );
  let body: ReceiptBody;
  try {
    body = verifyReceiptFile(file, key);
  } catch (err) {
    const error = asHashRelayError(err);
    const exit = error.code === "UNAUTHORIZED" ? EXIT.UNAUTHORIZED : EXIT.USAGE;
    if (args.flags.has("--json")) process.stdout.write(JSON.stringify({ ok: false, file, error: error.message }) + "\n");
    process.stderr.write(`hashrelay receipt: ${file}: INVALID: ${error.describe()}\n`);
    return exit;
  }
  if (args.flags.has("--json")) {
    process.stdout.write(JSON.stringify({ ok: true, file, receipt: body }) + "\n");
  } else {
    const lines = [
      `${file}: valid receipt signed by ${keyText}`,
      `  client      ${body.client}`,
      `  name        ${body.name}`,
      `  file        ${body.file}`,
      `  size        ${body.size} bytes`,
      `  archiveId   ${body.archiveId}`,
      `  fileSha256  ${body.fileSha256}`,
      `  storedAt    ${body.storedAt}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  }
  return EXIT.OK;
}
