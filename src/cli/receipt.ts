// `hashrelay receipt verify FILE --server-key ed25519:...`: checks a kept receipt offline and prints what it attests.
import { EXIT, HashRelayError, asHashRelayError } from "../errors.ts";
import type { ReceiptBody } from "../protocol/signed-document.ts";
import { parseArgs } from "./args.ts";
import type { Command } from "./command.ts";

const USAGE_HINT = "example: hashrelay receipt verify state/receipts/www/backup-www-….tar.gz.receipt.json --server-key ed25519:…";

export const receipt: Command = {
  name: "receipt",
  usage: "hashrelay receipt verify FILE --server-key ed25519:... [--json]",
  about: "check a kept receipt (state/receipts/NAME/FILE.receipt.json) offline and print what the server attested",
  example:
    "hashrelay receipt verify /var/lib/hashrelay/receipts/www/backup-www-00-30-02-2026-11-26.tar.gz.receipt.json --server-key ed25519:...",
  options: [
    ["FILE", "a receipt kept by the client under <client.state>/receipts/<name>/"],
    ["--server-key KEY", "the server's public key (client.serverKey in the client config)"],
    ["--json", 'print {"ok","file","receipt"} or {"ok":false,"file","error"}'],
    ["(exit codes)", "0 valid; 4 signed by another key or signature does not verify (altered); 2 unreadable or malformed"],
  ],
  run: verifyReceipt,
};

/** Exit 0 valid; 4 wrong key or bad signature; 2 usage, unreadable or malformed receipt. */
async function verifyReceipt(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--server-key"], flags: ["--json"] }, "receipt");
  const [sub, file, ...extra] = args.positionals;
  const keyText = args.values.get("--server-key");
  if (sub !== "verify" || !file || extra.length > 0 || !keyText)
    throw new HashRelayError("USAGE", "receipt needs: verify FILE --server-key ed25519:...", USAGE_HINT);
  const { parsePublicKey } = await import("../protocol/identity.ts");
  const key = parsePublicKey(keyText);
  if (!key)
    throw new HashRelayError(
      "USAGE",
      `--server-key ${JSON.stringify(keyText)} is not an ed25519:<base64> public key`,
      "copy the server's key from the client config (client.serverKey)",
    );
  const { verifyReceiptFile } = await import("../client/kept-receipt.ts");
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
  process.stdout.write(args.flags.has("--json") ? JSON.stringify({ ok: true, file, receipt: body }) + "\n" : attested(file, keyText, body));
  return EXIT.OK;
}

/** What a valid receipt attests, a field a line. */
function attested(file: string, keyText: string, body: ReceiptBody): string {
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
  return lines.join("\n") + "\n";
}
