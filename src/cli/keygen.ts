// `hashrelay keygen --out FILE [--force]`: a new Ed25519 identity, private key 0600, public key printed.
import { HashRelayError } from "../errors.ts";
import { formatPublicKey } from "../protocol/identity.ts";
import { createKeyFile } from "../io/key-file.ts";
import { parseArgs } from "./args.ts";

export function keygen(argv: string[]): number {
  const args = parseArgs(argv, { values: ["--out"], flags: ["--force"] }, "keygen");
  const out = args.values.get("--out");
  if (!out || args.positionals.length > 0)
    throw new HashRelayError("USAGE", "keygen needs --out FILE", "example: hashrelay keygen --out /etc/hashrelay/client.key");
  const identity = createKeyFile(out, args.flags.has("--force"));
  process.stdout.write(formatPublicKey(identity.publicKey) + "\n");
  return 0;
}
