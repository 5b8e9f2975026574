// `hashrelay status --config FILE [--json]`: what the client or server state says, whether or not the daemon runs.
import { formatStatus, statusReport } from "./status-report.ts";
import { configPath, parseArgs } from "./args.ts";
import { readConfig } from "../io/config-file.ts";
import { clientConfigStatus, configStatusLines, serverConfigStatus, statusOfInvalidConfig } from "./status-config.ts";

export async function status(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config"], flags: ["--json"] }, "status");
  const json = args.flags.has("--json");
  const read = readConfig(configPath(args));
  if (!read.ok) return statusOfInvalidConfig(configPath(args), read.issues, json);
  const config = read.config;
  const now = new Date();
  const report = await statusReport(config, now);
  // The config in force as the agents recorded it, the last refused reload, and (server) each client's config hash.
  const clientConfig = config.client ? clientConfigStatus(config.client.state, config.hash) : null;
  const serverConfig = config.server ? serverConfigStatus(config.server.storage, config.hash) : null;
  if (json) {
    const out = {
      ...report,
      ...(report.client ? { client: { ...report.client, ...clientConfig } } : {}),
      ...(report.server ? { server: { ...report.server, ...serverConfig } } : {}),
    };
    process.stdout.write(JSON.stringify(out) + "\n");
    return 0;
  }
  const lines: string[] = [];
  if (report.client && clientConfig)
    lines.push(formatStatus({ ...report, server: undefined }, now).trimEnd(), ...configStatusLines(clientConfig));
  if (report.server && serverConfig) {
    if (lines.length) lines.push("");
    lines.push(formatStatus({ ...report, client: undefined }, now).trimEnd(), ...configStatusLines(serverConfig));
    for (const [name, seen] of Object.entries(serverConfig.clientConfigs))
      lines.push(`  client ${name} runs config sha256 ${seen.hash} (since ${seen.since}, last seen ${seen.lastSeen})`);
  }
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}
