// Entry point: argv → command; HashRelayError → message, hint and exit code.
import { EXIT, HashRelayError, asHashRelayError } from "./errors.ts";
import pkg from "../package.json";
// Loaded on first call: `--version` or one command does not evaluate every other command's modules.
import {
  addSource,
  client,
  discover,
  keygen,
  ls,
  receipt,
  release,
  removeSource,
  restore,
  server,
  status,
  validate,
  verify,
} from "./cli/lazy-commands.ts";

interface Command {
  run: (argv: string[]) => number | Promise<number>;
  usage: string;
  about: string;
  example: string;
  /** [option, what it does], shown by `hashrelay help COMMAND`. */
  options: [string, string][];
}

const CONFIG_OPTION: [string, string] = [
  "--config FILE",
  "the config file (default: $HASHRELAY_CONFIG, else /etc/hashrelay/hashrelay.yaml)",
];
const LIVE_NOTE: [string, string] = [
  "(live config)",
  "the file is watched: an edit applies without restart (SIGHUP forces a reload); an invalid edit is logged and ignored",
];

const LOG_FORMAT_OPTION: [string, string] = [
  "--log-format text|json",
  "log lines as text (default) or one JSON object each, on stderr and in the log file",
];

const COMMANDS: Record<string, Command> = {
  client: {
    run: client,
    usage: "hashrelay client [--config FILE] [--once] [--json] [--log-format text|json]",
    about: "back up every source on the schedule; --once: one tick, then exit",
    example: "hashrelay client --config /etc/hashrelay/hashrelay.yaml --once --json",
    options: [
      CONFIG_OPTION,
      ["--once", "run one tick, then exit with its exit code (progress on stderr: bars on a terminal, a line per source otherwise)"],
      ["--json", "with --once: print the tick's report as one JSON object"],
      LOG_FORMAT_OPTION,
      LIVE_NOTE,
    ],
  },
  server: {
    run: server,
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
  },
  keygen: {
    run: keygen,
    usage: "hashrelay keygen --out FILE [--force]",
    about: "create an Ed25519 identity (private key 0600); prints the public key",
    example: "hashrelay keygen --out /etc/hashrelay/client.key",
    options: [
      ["--out FILE", "where to write the private key (mode 0600)"],
      ["--force", "replace FILE if it exists"],
    ],
  },
  validate: {
    run: validate,
    usage: "hashrelay validate [--config FILE] [--json] [--skip-key-files]",
    about: "check a config; every error as file:line:col: key: message (hint); exit 2 if invalid",
    example: "hashrelay validate --config hosts/web01.yaml --json --skip-key-files",
    options: [
      CONFIG_OPTION,
      ["--json", 'print {"ok":true,"file","hash"} or {"ok":false,"file","errors":[{file,line,col,key,message,hint}]} on stdout'],
      ["--skip-key-files", "do not check private key files (in CI: the keys live on the machines, not in git)"],
      ["(exit codes)", "0 valid, 2 invalid or unreadable"],
    ],
  },
  discover: {
    run: discover,
    usage: "hashrelay discover [--config FILE] [--wait 2s]",
    about: "find the pinned server on the LAN (UDP broadcast on the agreed port); prints ADDR:PORT, exit 3 if none answered",
    example: "hashrelay discover --config /etc/hashrelay/hashrelay.yaml",
    options: [
      CONFIG_OPTION,
      ["--wait DURATION", "how long to wait for answers (default 2s)"],
      ["(exit codes)", "0 found (ADDR:PORT on stdout), 3 no answer from the pinned server"],
    ],
  },
  status: {
    run: status,
    usage: "hashrelay status [--config FILE] [--json]",
    about:
      "server Up/Down since when, last result per source, next tick (client); clients seen, archives and their age, trash (server); config in force",
    example: "hashrelay status --json",
    options: [CONFIG_OPTION, ["--json", "print one JSON object"]],
  },
  ls: {
    run: ls,
    usage: "hashrelay ls [--config FILE] [NAME] [--json]",
    about:
      "the archives the server holds for this client (name, file, time, size, archive id, file SHA-256), trash included with its purge time",
    example: "hashrelay ls --config /etc/hashrelay/hashrelay.yaml www",
    options: [
      CONFIG_OPTION,
      ["NAME", "only the archives of this source"],
      ["--json", 'print {"client","server","archives":[{name,file,size,archiveId,fileSha256,storedAt,trashed?,purgeAt?}]}'],
      ["(exit codes)", "0 listed, 2 usage or config error, 3 server down, 4 authentication refused"],
    ],
  },
  restore: {
    run: restore,
    usage: "hashrelay restore NAME [--at TIME | --file F] --to DIR [--raw] [--force] [--config FILE] [--json]",
    about: "stream an archive back, verify every chunk against the manifest this client signed (its kept receipt), extract it into DIR",
    example: "hashrelay restore www --to /srv/restore/www",
    options: [
      CONFIG_OPTION,
      ["NAME", "the source to restore"],
      ["--file F", "this archive (see hashrelay ls NAME); trashed archives too"],
      ["--at TIME", "the newest archive stored at or before TIME (ISO 8601); default: the newest stored"],
      ["--to DIR", "where to put it; must be missing or empty unless --force"],
      ["--raw", "write the verified .tar.gz/.tar.zst into DIR instead of extracting it"],
      ["--force", "restore into a non-empty DIR, replacing what the archive holds"],
      ["--json", 'print {"name","file","trashed","to","raw","entries","archiveId"}'],
      [
        "(safety)",
        "the archive is received into a temp folder inside DIR and moved into place only when every chunk verified and tar listed no absolute or .. entry; a failed restore leaves nothing behind",
      ],
      [
        "(exit codes)",
        "0 restored; 1 damaged or refused archive; 2 usage, config, non-empty DIR, no kept receipt; 3 server down; 4 refused",
      ],
    ],
  },
  verify: {
    run: verify,
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
  },
  receipt: {
    run: receipt,
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
  },
  release: {
    run: release,
    usage: "hashrelay release NAME [--client C] [--config FILE] [--json]   or   hashrelay release --list [--config FILE] [--json]",
    about:
      "on the server: lift the hold on a suspect replacement (ransomware guard) so retention may trash the kept archive; --list: the holds",
    example: "hashrelay release www --client web01 --config /etc/hashrelay/hashrelay.yaml",
    options: [
      CONFIG_OPTION,
      ["NAME", "the held source name (see hashrelay release --list or hashrelay status)"],
      ["--client C", "the client whose source is held (needed only when several clients hold NAME)"],
      ["--list", "list the holds: client/name, the kept archive, the suspect one, why, since when"],
      ["--json", 'print {"client","name","kept","released","where"?,"queued"?} or, with --list, {"holds":[...],"unreadable":[...]}'],
      [
        "(how)",
        "the running server applies the request within seconds and the kept archive goes to the trash (purged after trashFor); a client can never release over the wire",
      ],
      [
        "(exit codes)",
        "0 released or listed; 1 the server kept the hold (see its log); 2 usage, config or no such hold; 3 the server is not running or did not answer in 15 s: the request stays queued and applies at its next start",
      ],
    ],
  },
  "-add": {
    run: addSource,
    usage: "hashrelay -add|-a PATH [--name NAME] [--exclude PATTERN]... [--config FILE]",
    about: "add a source to client.paths (comments and layout kept); a running client applies it live",
    example: "hashrelay -add /var/www --name www --exclude '*.log'",
    options: [
      ["PATH", "an existing folder or file; a relative path is resolved against the current folder and written as an absolute path"],
      ["--name NAME", "its name in archive names (default: the last part of the path, slugified)"],
      ["--exclude PATTERN", 'leave paths matching PATTERN out of its archives, e.g. "*.log" or "cache/" (repeatable)'],
      CONFIG_OPTION,
    ],
  },
  "-remove": {
    run: removeSource,
    usage: "hashrelay -remove|-rm PATH [--config FILE]   or   hashrelay -remove --name NAME",
    about: "remove a source from client.paths; its archives stay on the server",
    example: "hashrelay -rm /var/www",
    options: [
      ["PATH", "a listed path (a relative path is resolved against the current folder), or a source name"],
      ["--name NAME", "remove the source with this name"],
      CONFIG_OPTION,
    ],
  },
};

const ALIASES: Record<string, string> = { "-a": "-add", "-rm": "-remove" };
/** `hashrelay help add` and `help rm` find the dash commands too. */
const HELP_ALIASES: Record<string, string> = { ...ALIASES, add: "-add", a: "-add", remove: "-remove", rm: "-remove" };

function commandHelp(c: Command): string {
  const width = Math.max(...c.options.map(([o]) => o.length));
  return [
    `${c.usage}`,
    `  ${c.about}`,
    "",
    ...c.options.map(([o, what]) => `  ${o.padEnd(width)}  ${what}`),
    "",
    `  e.g. ${c.example}`,
    "",
  ].join("\n");
}

function help(): string {
  const lines = ["hashrelay — backups that prove by hashes what the NAS already holds.", "", "Commands:"];
  for (const c of Object.values(COMMANDS)) lines.push(`  ${c.usage}`, `      ${c.about}`, `      e.g. ${c.example}`);
  lines.push(
    "  hashrelay -h | --help | help COMMAND",
    "  hashrelay --version",
    "",
    "The config is --config FILE, else $HASHRELAY_CONFIG, else /etc/hashrelay/hashrelay.yaml.",
    "Exit codes: 0 ok; 1 a source failed; 2 usage or config error; 3 server down; 4 authentication refused.",
  );
  return lines.join("\n") + "\n";
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help") {
    process.stdout.write(help());
    return command === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (command === "--version") {
    process.stdout.write(`hashrelay ${pkg.version} (protocol 1)\n`);
    return EXIT.OK;
  }
  if (command === "help") {
    if (!rest[0]) {
      process.stdout.write(help());
      return EXIT.OK;
    }
    const target = COMMANDS[HELP_ALIASES[rest[0]] ?? rest[0]];
    if (!target) {
      process.stderr.write(`hashrelay: unknown command ${rest[0]}\n${help()}`);
      return EXIT.USAGE;
    }
    process.stdout.write(commandHelp(target));
    return EXIT.OK;
  }
  const entry = COMMANDS[ALIASES[command] ?? command];
  if (!entry) {
    process.stderr.write(`hashrelay: unknown command ${command}\n${help()}`);
    return EXIT.USAGE;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(commandHelp(entry));
    return EXIT.OK;
  }
  try {
    return await entry.run(rest);
  } catch (err) {
    const error = asHashRelayError(err);
    process.stderr.write(`hashrelay ${command}: ${error.describe()}\n`);
    return error.exitCode;
  }
}

// No top-level await: `bun build --compile --bytecode` compiles the bundle as CommonJS.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`hashrelay: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(EXIT.SOURCE_FAILED);
  },
);
