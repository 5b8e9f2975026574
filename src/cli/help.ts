// The help texts: the overview of every command (`hashrelay --help`), one command's (`hashrelay help COMMAND`), the version line.
import type { Command } from "./command.ts";
import { PROTOCOL_VERSION } from "../protocol/constants.ts";

/** What `--version` prints: the package version and the wire protocol this binary speaks. */
export function versionLine(version: string): string {
  return `hashrelay ${version} (protocol ${PROTOCOL_VERSION})\n`;
}

/** Usage, what it does, each option on its own line with the descriptions aligned, an example. */
export function commandHelp(c: Command): string {
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

/** Every command's usage, what it does and an example, then the config default and the exit codes. */
export function overview(commands: readonly Command[]): string {
  const lines = ["hashrelay — backups that prove by hashes what the NAS already holds.", "", "Commands:"];
  for (const c of commands) lines.push(`  ${c.usage}`, `      ${c.about}`, `      e.g. ${c.example}`);
  lines.push(
    "  hashrelay -h | --help | help COMMAND",
    "  hashrelay --version",
    "",
    "The config is --config FILE, else $HASHRELAY_CONFIG, else /etc/hashrelay/hashrelay.yaml.",
    "Exit codes: 0 ok; 1 a source failed; 2 usage or config error; 3 server down; 4 authentication refused.",
  );
  return lines.join("\n") + "\n";
}
