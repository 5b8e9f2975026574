// `hashrelay validate --config FILE [--json]`: exit 0, or every error as file:line:col: key: message (hint) and exit 2.
import { EXIT } from "../errors.ts";
import { formatIssue } from "../config/parse-config.ts";
import { configPath, parseArgs } from "./args.ts";
import { readConfig } from "./load-config.ts";

export function validate(argv: string[]): number {
  const args = parseArgs(argv, { values: ["--config"], flags: ["--json"] }, "validate");
  const file = configPath(args);
  const result = readConfig(file);
  if (args.flags.has("--json")) {
    process.stdout.write(JSON.stringify(result.ok ? { ok: true, file, hash: result.config.hash } : { ok: false, file, errors: result.issues }) + "\n");
  } else if (result.ok) {
    process.stdout.write(`${file}: valid (sha256 ${result.config.hash})\n`);
  } else {
    for (const issue of result.issues) process.stderr.write(formatIssue(issue) + "\n");
  }
  return result.ok ? EXIT.OK : EXIT.USAGE;
}
