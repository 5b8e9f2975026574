// `hashrelay keygen --out FILE [--force]`: a new Ed25519 identity, private key 0600, public key printed.
import { HashRelayError } from "../errors.ts";
import { parseArgs } from "./args.ts";
import type { Command } from "./command.ts";

export const keygen: Command = {
  name: "keygen",
  usage: "hashrelay keygen --out FILE [--force]",
  about: "create an Ed25519 identity (private key 0600); prints the public key",
  example: "hashrelay keygen --out /etc/hashrelay/client.key",
  options: [
    ["--out FILE", "where to write the private key (mode 0600)"],
    ["--force", "replace FILE if it exists"],
  ],
  run: createIdentity,
};

/** Writes the private key to --out (0600) and prints the public key as "ed25519:<base64>". */
async function createIdentity(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--out"], flags: ["--force"] }, "keygen");
  const out = args.values.get("--out");
  if (!out || args.positionals.length > 0)
    throw new HashRelayError("USAGE", "keygen needs --out FILE", "example: hashrelay keygen --out /etc/hashrelay/client.key");
  const { createKeyFile } = await import("../io/key-file.ts");
  const { formatPublicKey } = await import("../protocol/identity.ts");
  const identity = createKeyFile(out, args.flags.has("--force"));
  process.stdout.write(formatPublicKey(identity.publicKey) + "\n");
  return 0;
}
