// `hashrelay status --config FILE [--json]`: what the client or server state says, whether or not the daemon runs.
import fs from "node:fs";
import path from "node:path";
import { nextRun } from "../config/schedule.ts";
import { parseArchiveFileName } from "../archive/naming.ts";
import { ClientState } from "../agent/client-state.ts";
import { configPath, parseArgs } from "./args.ts";
import { readConfig } from "./load-config.ts";
import { clientConfigStatus, configStatusLines, serverConfigStatus, statusOfInvalidConfig } from "./status-config.ts";

interface ArchiveInfo {
  client: string;
  file: string;
  name: string;
  size: number;
  at: string;
}

function listArchives(dir: string, client: string): ArchiveInfo[] {
  let files: string[] = [];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: ArchiveInfo[] = [];
  for (const file of files) {
    const parsed = parseArchiveFileName(file);
    if (!parsed) continue;
    const stat = fs.statSync(path.join(dir, file));
    out.push({ client, file, name: parsed.name, size: stat.size, at: parsed.at.toISOString() });
  }
  return out.sort((a, b) => a.at.localeCompare(b.at));
}

export function status(argv: string[]): number {
  const args = parseArgs(argv, { values: ["--config"], flags: ["--json"] }, "status");
  const json = args.flags.has("--json");
  const read = readConfig(configPath(args));
  if (!read.ok) return statusOfInvalidConfig(configPath(args), read.issues, json);
  const config = read.config;
  const report: Record<string, unknown> = { config: config.file, configHash: config.hash };

  if (config.client) {
    const state = new ClientState(config.client.state);
    const last = state.lastTick();
    const next = new Date(nextRun(config.client.schedule, Date.now())).toISOString();
    const attested = clientConfigStatus(config.client.state, config.hash);
    report.client = { name: config.client.name, server: last?.server ?? "unknown", reason: last?.reason, lastTick: last?.at ?? null, results: last?.results ?? [], nextTick: next, ...attested };
    if (!json) {
      const lines = [`HashRelay client ${config.client.name} (config ${config.file}, sha256 ${config.hash.slice(0, 16)})`];
      lines.push(`Server: ${last ? (last.server === "up" ? "Up" : "Down") : "unknown (no tick yet)"}${last?.reason ? ` (${last.reason})` : ""}${last ? ` at ${last.at}` : ""}`);
      for (const r of (last?.results ?? []) as { name: string; status: string; archive: string | null; bytesSent: number; error?: string }[]) {
        lines.push(`  ${r.name.padEnd(20)} ${r.status.padEnd(9)} ${r.archive ?? r.error ?? ""}${r.bytesSent ? `  ${r.bytesSent} bytes sent` : ""}`);
      }
      lines.push(`Next tick: ${next} (${config.client.scheduleText})`);
      lines.push(...configStatusLines(attested));
      process.stdout.write(lines.join("\n") + "\n");
    }
  }

  if (config.server) {
    const storage = config.server.storage;
    const clients = config.server.clients.map((c) => c.name);
    const archives = clients.flatMap((c) => listArchives(path.join(storage, c), c));
    const trash = clients.flatMap((c) => listArchives(path.join(storage, ".trash", c), c));
    let free: number | null = null;
    try {
      const fsStat = fs.statfsSync(storage);
      free = fsStat.bavail * fsStat.bsize;
    } catch {
      free = null;
    }
    const attested = serverConfigStatus(storage, config.hash);
    report.server = { storage, free, archives, trash, ...attested };
    if (!json) {
      const lines = [`HashRelay server (storage ${storage}, ${free === null ? "free space unknown" : `${(free / 2 ** 30).toFixed(1)} GiB free`})`];
      for (const a of archives) lines.push(`  ${a.client}/${a.file}  ${a.size} bytes`);
      if (trash.length) lines.push("Trash:");
      for (const a of trash) lines.push(`  ${a.client}/${a.file}  ${a.size} bytes`);
      lines.push(...configStatusLines(attested));
      for (const [name, seen] of Object.entries(attested.clientConfigs)) lines.push(`  client ${name} runs config sha256 ${seen.hash} (since ${seen.since}, last seen ${seen.lastSeen})`);
      process.stdout.write(lines.join("\n") + "\n");
    }
  }
  if (json) process.stdout.write(JSON.stringify(report) + "\n");
  return 0;
}
