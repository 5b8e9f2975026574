// `hashrelay ls --config FILE [NAME] [--json]`: the archives the server holds for this client, trash included, asked over a session.
import { describeDigest } from "../protocol/file-digest.ts";
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { formatSize } from "../config/units.ts";
import type { ListedArchive } from "../protocol/messages.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";

export const ls: Command = {
  name: "ls",
  usage: "hashrelay ls [--config FILE] [NAME] [--json]",
  about:
    "the archives the server holds for this client (name, file, time, size, archive id, file SHA-256), trash included with its purge time",
  example: "hashrelay ls --config /etc/hashrelay/hashrelay.yaml www",
  options: [
    CONFIG_OPTION,
    ["NAME", "only the archives of this source"],
    ["--json", 'print {"client","server","archives":[{name,file,size,archiveId,piecesSha256|fileSha256,storedAt,trashed?,purgeAt?}]}'],
    ["(exit codes)", "0 listed, 2 usage or config error, 3 server down, 4 authentication refused"],
  ],
  run: listArchives,
};

/** Exit 0 listed (even when empty); 2 usage or config; 3 server down; 4 refused. */
async function listArchives(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config"], flags: ["--json"] }, "ls");
  const [name, ...extra] = args.positionals;
  if (extra.length > 0) throw new HashRelayError("USAGE", `unexpected argument ${extra[0]}`, "see: hashrelay help ls");
  if (name !== undefined && !isSlug(name))
    throw new HashRelayError(
      "USAGE",
      `${JSON.stringify(name)} is not a source name`,
      "a source name as in client.paths (lower case, digits, dashes)",
    );
  const { loadConfig, requireClient } = await import("../io/config-file.ts");
  const { listRemote, openCommandSession } = await import("../client/command-session.ts");
  const file = configPath(args);
  const { client } = requireClient(loadConfig(file));
  const { session, target } = await openCommandSession(client, file);
  let archives: ListedArchive[];
  try {
    archives = await listRemote(session, name);
    await session.sendControl({ type: "bye" });
  } finally {
    session.connection.close();
  }
  if (args.flags.has("--json")) {
    process.stdout.write(JSON.stringify({ client: client.name, server: target, archives }) + "\n");
    return 0;
  }
  const title = `${archives.length} archive${archives.length === 1 ? "" : "s"} of ${client.name} on ${target}${name ? ` (source ${name})` : ""}`;
  process.stdout.write([title, ...archives.flatMap(archiveLines)].join("\n") + "\n");
  return 0;
}

/** Two lines: where (trash or not), name, file, size, times; then its archive id and file digest (PROTOCOL.md §7.3). */
function archiveLines(a: ListedArchive): string[] {
  return [
    `${a.trashed ? "trash " : "      "}${a.name.padEnd(16)} ${a.file}  ${formatSize(a.size).padStart(10)}  stored ${a.storedAt}${a.trashed ? `  purged ${a.purgeAt}` : ""}`,
    `      archive ${a.archiveId}  ${describeDigest(a.piecesSha256 !== undefined ? { piecesSha256: a.piecesSha256 } : a)}`,
  ];
}
