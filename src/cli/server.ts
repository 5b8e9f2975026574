// `hashrelay server [verify|audit] --config FILE`: serve until SIGTERM, scrub the storage, or show and check the audit log.
import { HashRelayError } from "../errors.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, LIVE_NOTE, LOG_FORMAT_OPTION, type Command } from "./command.ts";

export const server: Command = {
  name: "server",
  usage:
    "hashrelay server [--config FILE] [--log-format text|json]   or   hashrelay server verify [--config FILE] [--client C] [--json]   or   hashrelay server audit [--config FILE] [--check [--expect SEQ:HASH]] [--json]",
  about:
    "serve clients until SIGTERM; verify: scrub every stored and trashed archive and name the damaged ones; audit: show the audit log or prove it unedited",
  example: "hashrelay server --config /etc/hashrelay/hashrelay.yaml",
  options: [
    CONFIG_OPTION,
    LOG_FORMAT_OPTION,
    LIVE_NOTE,
    [
      "verify",
      "re-read every archive (and the trash): each member must inflate to the chunk id the index recorded; one line per archive, damaged ones with member index, byte offset and chunk id",
    ],
    ["--client C", "with verify: only this client's archives"],
    [
      "--json",
      'with verify: print {"ok","checked","damaged","archives":[{client,file,trash,ok,members,size,damaged:[{index,offset,length,chunkId,reason}],problem?}]}',
    ],
    [
      "(verify exit codes)",
      "0 every archive intact, 1 an archive is damaged, 2 bad config; run it while the server is stopped (it opens the storage like a server start)",
    ],
    [
      "audit",
      "list <storage>/.audit/audit.log (accept, supersede, hold, release, trash, purge); --json: its raw lines; only reads, the server may run",
    ],
    [
      "audit --check",
      'walk the hash chain and the head file: "audit log intact: N lines, head SEQ:HASH" (exit 0), or the first bad line (exit 1)',
    ],
    [
      "--expect SEQ:HASH",
      "with audit --check: a head printed by an earlier check (kept on another machine); the log must still hold that line",
    ],
  ],
  run: async (argv) => {
    if (argv[0] === "verify") return scrub(argv.slice(1));
    if (argv[0] === "audit") return audit(argv.slice(1));
    const args = parseArgs(argv, { values: ["--config", "--log-format"] }, "server");
    const request = { configFile: configPath(args), logFormat: args.values.get("--log-format") };
    (await import("../server/freed-memory.ts")).keepFreedMemory();
    return (await import("./serve.ts")).serve(request);
  },
};

/** `hashrelay server verify [--client C] [--json]`. */
async function scrub(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config", "--client"], flags: ["--json"] }, "server verify");
  noPositionals(args.positionals);
  const request = { configFile: configPath(args), client: args.values.get("--client"), json: args.flags.has("--json") };
  return (await import("./server-verify.ts")).serverVerify(request);
}

/** `hashrelay server audit [--check [--expect SEQ:HASH]] [--json]`. */
async function audit(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config", "--expect"], flags: ["--check", "--json"] }, "server audit");
  noPositionals(args.positionals);
  const request = {
    configFile: configPath(args),
    check: args.flags.has("--check"),
    expect: args.values.get("--expect"),
    json: args.flags.has("--json"),
  };
  return (await import("./server-audit.ts")).serverAudit(request);
}

function noPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new HashRelayError("USAGE", `unexpected argument ${positionals[0]}`, "see: hashrelay help server");
}
