// Entry point: argv → command; HashRelayError → message, hint and exit code.
import { EXIT, asHashRelayError } from "./errors.ts";
import pkg from "../package.json";
import type { Command } from "./cli/command.ts";
import { commandHelp, overview, versionLine } from "./cli/help.ts";
import { client } from "./cli/client.ts";
import { backupNow } from "./cli/backup-now.ts";
import { server } from "./cli/server.ts";
import { keygen } from "./cli/keygen.ts";
import { validate } from "./cli/validate.ts";
import { discover } from "./cli/discover.ts";
import { status } from "./cli/status.ts";
import { ls } from "./cli/ls.ts";
import { restore } from "./cli/restore.ts";
import { verify } from "./cli/verify.ts";
import { receipt } from "./cli/receipt.ts";
import { trustServer } from "./cli/trust-server.ts";
import { release } from "./cli/release.ts";
import { addSource } from "./cli/add-source.ts";
import { removeSource } from "./cli/remove-source.ts";

/** In the order `hashrelay --help` lists them. */
const COMMANDS: readonly Command[] = [
  client,
  backupNow,
  server,
  keygen,
  validate,
  discover,
  status,
  ls,
  restore,
  verify,
  receipt,
  trustServer,
  release,
  addSource,
  removeSource,
];

/** The command `name` stands for on the command line or, with `forHelp`, after `hashrelay help`. */
function findCommand(name: string, forHelp: boolean): Command | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases?.includes(name) || (forHelp && c.helpAliases?.includes(name)));
}

function unknownCommand(name: string): number {
  process.stderr.write(`hashrelay: unknown command ${name}\n${overview(COMMANDS)}`);
  return EXIT.USAGE;
}

/** `hashrelay help [COMMAND]`. */
function help(name: string | undefined): number {
  if (!name) {
    process.stdout.write(overview(COMMANDS));
    return EXIT.OK;
  }
  const target = findCommand(name, true);
  if (!target) return unknownCommand(name);
  process.stdout.write(commandHelp(target));
  return EXIT.OK;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help") {
    process.stdout.write(overview(COMMANDS));
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === "--version") {
    process.stdout.write(versionLine(pkg.version));
    return EXIT.OK;
  }
  if (name === "help") return help(rest[0]);
  const command = findCommand(name, false);
  if (!command) return unknownCommand(name);
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(commandHelp(command));
    return EXIT.OK;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    const error = asHashRelayError(err);
    process.stderr.write(`hashrelay ${name}: ${error.describe()}\n`);
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
