// `hashrelay verify [NAME] [--file F] [--deep]`: proof of storage without download, by challenges only the real bytes can answer.
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";
import type { VerifyRequest } from "../client/verify-archives.ts";

export type { ArchiveVerdict } from "../client/verify-archives.ts";

export const verify: Command = {
  name: "verify",
  usage: "hashrelay verify [NAME] [--file F] [--deep] [--config FILE] [--json]",
  about:
    "prove the server still holds this client's archives, without downloading them: fresh secret challenges only the real bytes can answer",
  example: "hashrelay verify --config /etc/hashrelay/hashrelay.yaml www --deep",
  options: [
    CONFIG_OPTION,
    ["NAME", "only the archives of this source (default: every stored archive of this client)"],
    ["--file F", "only this archive of NAME, stored or in the trash (see hashrelay ls NAME)"],
    ["--deep", "challenge every chunk (default: the first, the last and 32 picked at random)"],
    ["--json", 'print {"client","server","deep","archives":[{name,file,trashed,status,chunks,proven,withoutProof,problems}]}'],
    [
      "(how)",
      "each challenge spends one of the answers this client made while it read the chunk (4 per read); see PROTOCOL.md §14 for what it proves and its limits",
    ],
    [
      "(exit codes)",
      "0 every archive proven; 1 an archive failed (damaged, truncated, replaced) or could not be challenged; 2 usage or config; 3 server down; 4 refused",
    ],
  ],
  run: async (argv) => {
    const request = verifyRequest(argv);
    return (await import("../client/verify-archives.ts")).verifyArchives(request);
  },
};

/** The request argv makes; throws USAGE on an extra argument, a NAME that is no slug, or --file without NAME. */
function verifyRequest(argv: string[]): VerifyRequest {
  const args = parseArgs(argv, { values: ["--config", "--file"], flags: ["--deep", "--json"] }, "verify");
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
  return { configFile: configPath(args), name, file, deep: args.flags.has("--deep"), json: args.flags.has("--json") };
}
