// `hashrelay receipt verify FILE (--server-key ed25519:... | --config FILE)`: checks a kept receipt offline and prints what it attests.
import { EXIT, HashRelayError, asHashRelayError } from "../errors.ts";
import type { CheckedReceipt } from "../client/kept-receipt.ts";
import { configPath, parseArgs, type ParsedArgs } from "./args.ts";
import type { Command } from "./command.ts";

const USAGE_HINT = "example: hashrelay receipt verify state/receipts/www/backup-www-….tar.gz.receipt.json --server-key ed25519:…";

export const receipt: Command = {
  name: "receipt",
  usage: "hashrelay receipt verify FILE (--server-key ed25519:... | --config FILE) [--json]",
  about: "check a kept receipt (state/receipts/NAME/FILE.receipt.json) offline and print what the server attested",
  example:
    "hashrelay receipt verify /var/lib/hashrelay/receipts/www/backup-www-00-30-02-2026-11-26.tar.gz.receipt.json --server-key ed25519:...",
  options: [
    ["FILE", "a receipt kept by the client under <client.state>/receipts/<name>/"],
    ["--server-key KEY", "the server's public key (client.serverKey in the client config)"],
    [
      "--config FILE",
      "instead of --server-key: the keys this client pinned, client.serverKey and those it pinned before (kept in state/server-keys.json by hashrelay trust-server), each for the receipts stored while it was pinned",
    ],
    ["--json", 'print {"ok","file","receipt"} or {"ok":false,"file","error"}'],
    ["(exit codes)", "0 valid; 4 signed by another key or signature does not verify (altered); 2 unreadable or malformed"],
  ],
  run: verifyReceipt,
};

/** Exit 0 valid; 4 wrong key or bad signature; 2 usage, unreadable or malformed receipt. */
async function verifyReceipt(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--server-key", "--config"], flags: ["--json"] }, "receipt");
  const [sub, file, ...extra] = args.positionals;
  const keyText = args.values.get("--server-key");
  if (sub !== "verify" || !file || extra.length > 0)
    throw new HashRelayError("USAGE", "receipt needs: verify FILE --server-key ed25519:... (or --config FILE)", USAGE_HINT);
  const check = await receiptCheck(keyText, args);
  let checked: CheckedReceipt;
  try {
    checked = check(file);
  } catch (err) {
    const error = asHashRelayError(err);
    const exit = error.code === "UNAUTHORIZED" ? EXIT.UNAUTHORIZED : EXIT.USAGE;
    if (args.flags.has("--json")) process.stdout.write(JSON.stringify({ ok: false, file, error: error.message }) + "\n");
    process.stderr.write(`hashrelay receipt: ${file}: INVALID: ${error.describe()}\n`);
    return exit;
  }
  const { body, signer } = checked;
  process.stdout.write(
    args.flags.has("--json") ? JSON.stringify({ ok: true, file, signer, receipt: body }) + "\n" : attested(file, checked),
  );
  return EXIT.OK;
}

/**
 * How a receipt file is checked: with `--server-key`, else with the keys the client of `--config` pinned.
 * The check throws what verifyReceiptFile throws. Throws USAGE on a bad key, CONFIG on a bad config.
 */
async function receiptCheck(keyText: string | undefined, args: ParsedArgs): Promise<(file: string) => CheckedReceipt> {
  const { verifyReceiptFile, verifyPinnedReceipt } = await import("../client/kept-receipt.ts");
  if (keyText === undefined) {
    const { loadConfig, requireClient } = await import("../io/config-file.ts");
    const { serverPins } = await import("../client/pinned-keys.ts");
    const pins = serverPins(requireClient(loadConfig(configPath(args))).client);
    return (file) => verifyPinnedReceipt(file, pins);
  }
  const { parsePublicKey } = await import("../protocol/identity.ts");
  const key = parsePublicKey(keyText);
  if (!key)
    throw new HashRelayError(
      "USAGE",
      `--server-key ${JSON.stringify(keyText)} is not an ed25519:<base64> public key`,
      "copy the server's key from the client config (client.serverKey)",
    );
  return (file) => ({ body: verifyReceiptFile(file, key), signer: { key: keyText } });
}

/** What a valid receipt attests, a field a line. */
function attested(file: string, { body, signer }: CheckedReceipt): string {
  const until = signer.until ? ` (the server key this client pinned until ${signer.until})` : "";
  const lines = [
    `${file}: valid receipt signed by ${signer.key}${until}`,
    `  client      ${body.client}`,
    `  name        ${body.name}`,
    `  file        ${body.file}`,
    `  size        ${body.size} bytes`,
    `  archiveId   ${body.archiveId}`,
    body.piecesSha256 !== undefined ? `  piecesSha256 ${body.piecesSha256}` : `  fileSha256  ${body.fileSha256}`,
    `  storedAt    ${body.storedAt}`,
  ];
  return lines.join("\n") + "\n";
}
