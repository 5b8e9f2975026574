// Entry point: argv → command; HashRelayError → message, hint and exit code.
import { EXIT, HashRelayError, asHashRelayError } from "./errors.ts";
import pkg from "../package.json";
import { client } from "./cli/client.ts";
import { keygen } from "./cli/keygen.ts";
import { server } from "./cli/server.ts";
import { status } from "./cli/status.ts";
import { validate } from "./cli/validate.ts";

const COMMANDS: Record<string, { run: (argv: string[]) => number | Promise<number>; usage: string; about: string; example: string }> = {
  client: {
    run: client,
    usage: "hashrelay client [--config FILE] [--once] [--json] [--log-format text|json]",
    about: "back up every source on the schedule; --once: one tick, then exit",
    example: "hashrelay client --config /etc/hashrelay/hashrelay.yaml --once --json",
  },
  server: {
    run: server,
    usage: "hashrelay server [--config FILE] [--log-format text|json]",
    about: "serve clients until SIGTERM",
    example: "hashrelay server --config /etc/hashrelay/hashrelay.yaml",
  },
  keygen: {
    run: keygen,
    usage: "hashrelay keygen --out FILE [--force]",
    about: "create an Ed25519 identity (private key 0600); prints the public key",
    example: "hashrelay keygen --out /etc/hashrelay/client.key",
  },
  validate: {
    run: validate,
    usage: "hashrelay validate [--config FILE] [--json]",
    about: "check a config; every error as file:line:col: key: message (hint); exit 2 if invalid",
    example: "hashrelay validate --config hashrelay.yaml",
  },
  status: {
    run: status,
    usage: "hashrelay status [--config FILE] [--json]",
    about: "server Up/Down since when, last result per source, next tick (client); clients seen, archives and their age, trash (server)",
    example: "hashrelay status --json",
  },
};

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
    const target = rest[0] ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(target ? `${target.usage}\n  ${target.about}\n  e.g. ${target.example}\n` : help());
    return EXIT.OK;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    process.stderr.write(`hashrelay: unknown command ${command}\n${help()}`);
    return EXIT.USAGE;
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
