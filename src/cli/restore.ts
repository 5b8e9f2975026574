// `hashrelay restore NAME [--at TIME|--file F] --to DIR [--raw] [--force]`: stream an archive back, verify every chunk as it extracts.
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";
import type { RestoreRequest } from "../client/restore-archive.ts";

export const restore: Command = {
  name: "restore",
  usage: "hashrelay restore NAME [--at TIME | --file F] --to DIR [--raw] [--force] [--client-key KEY] [--config FILE] [--json]",
  about:
    "stream an archive back, verify every chunk against its anchor (this client's kept receipt, else the signed manifest and receipt the server keeps beside it), extract it into DIR",
  example: "hashrelay restore www --to /srv/restore/www",
  options: [
    CONFIG_OPTION,
    ["NAME", "the source to restore"],
    ["--file F", "this archive (see hashrelay ls NAME); trashed archives too"],
    ["--at TIME", "the newest archive stored at or before TIME (ISO 8601); default: the newest stored"],
    ["--to DIR", "where to put it; must be missing or empty unless --force"],
    ["--raw", "write the verified .tar.gz/.tar.zst into DIR instead of extracting it"],
    ["--force", "restore into a non-empty DIR, replacing what the archive holds"],
    [
      "--client-key KEY",
      "on a new machine with a new key: the public key of the client that made the backup (kept offline); its signature on the manifest then anchors the archive",
    ],
    ["--json", 'print {"name","file","trashed","to","raw","entries","archiveId","anchor","anchoredBy"}'],
    [
      "(anchor)",
      "the receipt this client kept; without one (a new machine) the manifest the server kept, when this client's key (or --client-key) signed it; else the server's receipt alone. The output says which",
    ],
    [
      "(safety)",
      "every chunk is verified before tar extracts it (no absolute or .. entry is given to tar), into a temp folder inside DIR that is moved into place only when the whole archive verified; a failed restore leaves nothing behind",
    ],
    [
      "(exit codes)",
      "0 restored; 1 damaged or refused archive; 2 usage, config, non-empty DIR, no anchor (no kept receipt, none from the server); 3 server down; 4 refused, or a signature that does not verify",
    ],
  ],
  run: async (argv) => {
    const request = restoreRequest(argv);
    return (await import("../client/restore-archive.ts")).restoreArchive(request);
  },
};

/** The request argv makes; throws USAGE when NAME or --to is missing, NAME is no slug, --at no time, or --at comes with --file. */
function restoreRequest(argv: string[]): RestoreRequest {
  const args = parseArgs(
    argv,
    { values: ["--config", "--at", "--file", "--to", "--client-key"], flags: ["--raw", "--force", "--json"] },
    "restore",
  );
  const [name, ...extra] = args.positionals;
  const to = args.values.get("--to");
  if (!name || extra.length > 0 || !to)
    throw new HashRelayError("USAGE", "restore needs NAME and --to DIR", "example: hashrelay restore www --to /srv/restore");
  if (!isSlug(name)) throw new HashRelayError("USAGE", `${JSON.stringify(name)} is not a source name`, "a source name as in client.paths");
  const atText = args.values.get("--at");
  const at = atText === undefined ? undefined : Date.parse(atText);
  if (at !== undefined && Number.isNaN(at))
    throw new HashRelayError("USAGE", `--at ${JSON.stringify(atText)} is not a time`, "e.g. --at 2026-11-25T12:00:00Z");
  if (at !== undefined && args.values.has("--file")) throw new HashRelayError("USAGE", "--at and --file exclude each other");
  return {
    configFile: configPath(args),
    name,
    to,
    at,
    file: args.values.get("--file"),
    raw: args.flags.has("--raw"),
    force: args.flags.has("--force"),
    json: args.flags.has("--json"),
    clientKey: args.values.get("--client-key"),
  };
}
