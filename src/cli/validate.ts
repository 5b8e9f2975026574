// `hashrelay validate --config FILE [--json] [--skip-key-files]`: exit 0, or every error as file:line:col: key: message (hint) and exit 2.
import { EXIT, asHashRelayError } from "../errors.ts";
import { formatIssue, type ConfigIssue } from "../config/parse-config.ts";
import { configPath, parseArgs } from "./args.ts";
import { readConfig, type ConfigResult } from "../io/config-file.ts";

export function validate(argv: string[]): number {
  const args = parseArgs(argv, { values: ["--config"], flags: ["--json", "--skip-key-files"] }, "validate");
  const file = configPath(args);
  let result: ConfigResult;
  try {
    result = readConfig(file, { keyFiles: !args.flags.has("--skip-key-files") });
  } catch (err) {
    // An unreadable file is an error like any other, in the same shape (pipelines parse one format).
    const error = asHashRelayError(err, "CONFIG");
    const issue: ConfigIssue = { file, line: 0, col: 0, key: "(file)", message: error.message, hint: error.hint };
    result = { ok: false, issues: [issue] };
  }
  if (args.flags.has("--json")) {
    process.stdout.write(
      JSON.stringify(result.ok ? { ok: true, file, hash: result.config.hash } : { ok: false, file, errors: result.issues }) + "\n",
    );
  } else if (result.ok) {
    process.stdout.write(`${file}: valid (sha256 ${result.config.hash})\n`);
  } else {
    for (const issue of result.issues)
      process.stderr.write((issue.line === 0 ? `${file}: ${issue.message} (${issue.hint})` : formatIssue(issue)) + "\n");
  }
  return result.ok ? EXIT.OK : EXIT.USAGE;
}
