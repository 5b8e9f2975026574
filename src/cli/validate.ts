// `hashrelay validate --config FILE [--json] [--skip-key-files]`: exit 0, or every error as file:line:col: key: message (hint) and exit 2.
import { EXIT, asHashRelayError } from "../errors.ts";
import type { ConfigIssue } from "../config/parse-config.ts";
import type { ConfigResult } from "../io/config-file.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";

export const validate: Command = {
  name: "validate",
  usage: "hashrelay validate [--config FILE] [--json] [--skip-key-files]",
  about: "check a config; every error as file:line:col: key: message (hint); exit 2 if invalid",
  example: "hashrelay validate --config hosts/web01.yaml --json --skip-key-files",
  options: [
    CONFIG_OPTION,
    ["--json", 'print {"ok":true,"file","hash"} or {"ok":false,"file","errors":[{file,line,col,key,message,hint}]} on stdout'],
    ["--skip-key-files", "do not check private key files (in CI: the keys live on the machines, not in git)"],
    ["(exit codes)", "0 valid, 2 invalid or unreadable"],
  ],
  run: validateConfig,
};

/** Exit 0 valid; 2 invalid or unreadable, every issue on stderr (or in the --json object on stdout). */
async function validateConfig(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config"], flags: ["--json", "--skip-key-files"] }, "validate");
  const file = configPath(args);
  const result = await check(file, !args.flags.has("--skip-key-files"));
  if (args.flags.has("--json")) {
    process.stdout.write(
      JSON.stringify(result.ok ? { ok: true, file, hash: result.config.hash } : { ok: false, file, errors: result.issues }) + "\n",
    );
  } else if (result.ok) {
    process.stdout.write(`${file}: valid (sha256 ${result.config.hash})\n`);
  } else {
    const { formatIssue } = await import("../config/parse-config.ts");
    for (const issue of result.issues)
      process.stderr.write((issue.line === 0 ? `${file}: ${issue.message} (${issue.hint})` : formatIssue(issue)) + "\n");
  }
  return result.ok ? EXIT.OK : EXIT.USAGE;
}

/** The file read and validated; an unreadable file is an issue like any other, in the same shape (pipelines parse one format). */
async function check(file: string, keyFiles: boolean): Promise<ConfigResult> {
  const { readConfig } = await import("../io/config-file.ts");
  try {
    return readConfig(file, { keyFiles });
  } catch (err) {
    const error = asHashRelayError(err, "CONFIG");
    const issue: ConfigIssue = { file, line: 0, col: 0, key: "(file)", message: error.message, hint: error.hint };
    return { ok: false, issues: [issue] };
  }
}
