// `hashrelay status --config FILE [--json]`: what the client or server state says, whether or not the daemon runs.
import { formatStatus, statusReport } from "../agent/status-report.ts";
import { configPath, parseArgs } from "./args.ts";
import { loadConfig } from "./load-config.ts";

export async function status(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config"], flags: ["--json"] }, "status");
  const config = loadConfig(configPath(args));
  const now = new Date();
  const report = await statusReport(config, now);
  process.stdout.write(args.flags.has("--json") ? JSON.stringify(report) + "\n" : formatStatus(report, now));
  return 0;
}
