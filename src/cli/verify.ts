// `hashrelay verify [NAME] [--file F] [--deep]`: proof of storage without download, by challenges only the real bytes can answer.
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";
import type { VerifyRequest } from "../client/verify-archives.ts";

export type { ArchiveVerdict } from "../client/verify-archives.ts";

export const verify: Command = {
  name: "verify",
  usage: "hashrelay verify [NAME] [--file F] [--deep | --download] [--client-key KEY] [--config FILE] [--json]",
  about:
    "prove the server still holds this client's archives, without downloading them: fresh secret challenges only the real bytes can answer",
  example: "hashrelay verify --config /etc/hashrelay/hashrelay.yaml www --deep",
  options: [
    CONFIG_OPTION,
    ["NAME", "only the archives of this source (default: every stored archive of this client)"],
    ["--file F", "only this archive of NAME, stored or in the trash (see hashrelay ls NAME)"],
    ["--deep", "challenge every chunk (default: the first, the last and 32 picked at random)"],
    [
      "--download",
      "download every chunk and check it against the anchored chunk list and the file against its SHA-256: for a client with no proof answers (a new machine); costs a full download",
    ],
    ["--client-key KEY", "the public key of the client that made the backups, when this client has a new key (see hashrelay help restore)"],
    [
      "--json",
      'print {"client","server","deep","download","archives":[{name,file,trashed,status,chunks,proven,withoutProof,problems,refreshed,anchor,anchoredBy,downloaded}]}',
    ],
    [
      "(how)",
      "each challenge spends one of the answers this client made while it read the chunk (4 per read); see PROTOCOL.md §14 for what it proves and its limits",
    ],
    [
      "(exit codes)",
      "0 every archive proven; 1 an archive failed (damaged, truncated, replaced) or could not be checked; 2 usage or config; 3 server down; 4 refused",
    ],
  ],
  run: async (argv) => {
    const request = verifyRequest(argv);
    return (await import("../client/verify-archives.ts")).verifyArchives(request);
  },
};

/** The request argv makes; throws USAGE on an extra argument, a NAME that is no slug, --file without NAME, or --deep with --download. */
function verifyRequest(argv: string[]): VerifyRequest {
  const args = parseArgs(argv, { values: ["--config", "--file", "--client-key"], flags: ["--deep", "--download", "--json"] }, "verify");
  const [name, ...extra] = args.positionals;
  if (extra.length > 0) throw new HashRelayError("USAGE", `unexpected argument ${extra[0]}`, "see: hashrelay help verify");
  if (name !== undefined && !isSlug(name))
    throw new HashRelayError(
      "USAGE",
      `${JSON.stringify(name)} is not a source name`,
      "a source name as in client.paths (lower case, digits, dashes)",
    );
  const file = args.values.get("--file");
  if (file !== undefined && name === undefined)
    throw new HashRelayError("USAGE", "--file needs NAME", "example: hashrelay verify www --file backup-www-….tar.gz");
  const [deep, download] = [args.flags.has("--deep"), args.flags.has("--download")];
  if (deep && download)
    throw new HashRelayError("USAGE", "--deep and --download exclude each other", "--download checks every chunk already");
  return {
    configFile: configPath(args),
    name,
    file,
    deep,
    download,
    json: args.flags.has("--json"),
    clientKey: args.values.get("--client-key"),
  };
}
