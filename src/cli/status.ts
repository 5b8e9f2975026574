// `hashrelay status --config FILE [--json]`: what the client or server state says, whether or not the daemon runs.
import type { ClientConfig, ServerConfig } from "../io/config-file.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";

export const status: Command = {
  name: "status",
  usage: "hashrelay status [--config FILE] [--json]",
  about:
    "server Up/Down since when, last result per source, next tick (client); clients seen, archives and their age, trash (server); config in force",
  example: "hashrelay status --json",
  options: [CONFIG_OPTION, ["--json", "print one JSON object"]],
  run: showStatus,
};

/** One agent's part of the report: its JSON object and its lines. */
interface StatusPart {
  json: object;
  lines: string[];
}

/** Exit 0; 2 when the config cannot be read or is invalid (then what the agents keep running on). Reads only. */
async function showStatus(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config"], flags: ["--json"] }, "status");
  const json = args.flags.has("--json");
  const { readConfig } = await import("../io/config-file.ts");
  const read = readConfig(configPath(args));
  if (!read.ok) return (await import("./status-config.ts")).statusOfInvalidConfig(configPath(args), read.issues, json);
  const config = read.config;
  const now = new Date();
  const client = config.client ? await clientPart(config as ClientConfig, now) : undefined;
  const server = config.server ? await serverPart(config as ServerConfig, now) : undefined;
  if (json) {
    const out = {
      config: config.file,
      configHash: config.hash,
      ...(client ? { client: client.json } : {}),
      ...(server ? { server: server.json } : {}),
    };
    process.stdout.write(JSON.stringify(out) + "\n");
  } else {
    const lines = [...(client?.lines ?? []), ...(client && server ? [""] : []), ...(server?.lines ?? [])];
    process.stdout.write(lines.join("\n") + "\n");
  }
  return 0;
}

/** The client's state and the config in force it recorded. */
async function clientPart(config: ClientConfig, now: Date): Promise<StatusPart> {
  const { clientStatus, clientStatusLines } = await import("../client/status-report.ts");
  const { clientConfigStatus, configStatusLines } = await import("./status-config.ts");
  const report = clientStatus(config, now);
  const inForce = clientConfigStatus(config.client.state, config.hash);
  return { json: { ...report, ...inForce }, lines: [...clientStatusLines(report, config, now), ...configStatusLines(inForce)] };
}

/** The server's storage, the config in force it recorded, and the config hash each client last ran. */
async function serverPart(config: ServerConfig, now: Date): Promise<StatusPart> {
  const { serverStatus, serverStatusLines } = await import("../server/status-report.ts");
  const { serverConfigStatus, configStatusLines } = await import("./status-config.ts");
  const report = await serverStatus(config, now);
  const inForce = serverConfigStatus(config.server.storage, config.hash);
  const lines = [...serverStatusLines(report, config, now), ...configStatusLines(inForce)];
  for (const [name, seen] of Object.entries(inForce.clientConfigs))
    lines.push(`  client ${name} runs config sha256 ${seen.hash} (since ${seen.since}, last seen ${seen.lastSeen})`);
  return { json: { ...report, ...inForce }, lines };
}
