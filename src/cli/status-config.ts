// The config part of `hashrelay status`: the config in force (hash, when applied), the last refused reload, client hashes seen.
import fs from "node:fs";
import { EXIT } from "../errors.ts";
import { formatIssue, type ConfigIssue } from "../config/parse-config.ts";
import { stateLocations } from "../config/state-locations.ts";
import { ClientConfigs, clientRecordPath, readConfigRecord, serverRecordPath, type ClientConfigSeen } from "../daemon/config-record.ts";
import type { ConfigRecord } from "../daemon/reload.ts";

export interface ConfigStatus {
  /** The config the agent applied last (null: no agent has run with this state yet). */
  configInForce: { hash: string; appliedAt: string | null; file: string; pid: number } | null;
  /** False when the file on disk is not the config in force (not applied yet, or refused: see lastReloadError). */
  configOnDiskInForce: boolean | null;
  lastReloadError: ConfigRecord["lastError"];
}

/** What the record at `recordFile` says, compared with the hash of the file on disk (null: the file is invalid). */
export function configStatus(recordFile: string, onDiskHash: string | null): ConfigStatus {
  const record = readConfigRecord(recordFile);
  const inForce = record?.hash ? { hash: record.hash, appliedAt: record.appliedAt, file: record.file, pid: record.pid } : null;
  return {
    configInForce: inForce,
    configOnDiskInForce: inForce && onDiskHash ? inForce.hash === onDiskHash : null,
    lastReloadError: record?.lastError ?? null,
  };
}

export function clientConfigStatus(stateDir: string, onDiskHash: string | null): ConfigStatus {
  return configStatus(clientRecordPath(stateDir), onDiskHash);
}

export function serverConfigStatus(
  storage: string,
  onDiskHash: string | null,
): ConfigStatus & { clientConfigs: Record<string, ClientConfigSeen> } {
  return { ...configStatus(serverRecordPath(storage), onDiskHash), clientConfigs: ClientConfigs.read(storage) };
}

/** Human lines for a ConfigStatus. */
export function configStatusLines(s: ConfigStatus): string[] {
  const lines: string[] = [];
  const f = s.configInForce;
  lines.push(
    f
      ? `Config in force: sha256 ${f.hash} applied ${f.appliedAt ?? "?"} (pid ${f.pid})`
      : "Config in force: unknown (no agent has recorded one here yet)",
  );
  if (s.configOnDiskInForce === false) lines.push("Config on disk: differs from the config in force (not applied yet, or refused)");
  const e = s.lastReloadError;
  if (e) {
    lines.push(`Last reload refused at ${e.at}: ${e.message}${e.hint ? ` (${e.hint})` : ""}`);
    for (const issue of e.issues) lines.push(`  ${formatIssue(issue)}`);
  }
  return lines;
}

/** `status` when the file on disk does not validate: its errors, and what the agents keep running on. Exit 2. */
export function statusOfInvalidConfig(file: string, issues: ConfigIssue[], json: boolean): number {
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    // unreadable: the issues say so
  }
  const where = stateLocations(text, file);
  const report: Record<string, unknown> = { config: file, configValid: false, errors: issues };
  const lines = [`Config on disk: ${file} is invalid (the agents keep the config in force):`, ...issues.map((i) => `  ${formatIssue(i)}`)];
  if (where.clientState) {
    const s = clientConfigStatus(where.clientState, null);
    report.client = s;
    lines.push("Client:", ...configStatusLines(s).map((l) => `  ${l}`));
  }
  if (where.serverStorage) {
    const s = serverConfigStatus(where.serverStorage, null);
    report.server = s;
    lines.push("Server:", ...configStatusLines(s).map((l) => `  ${l}`));
  }
  process.stdout.write(json ? JSON.stringify(report) + "\n" : lines.join("\n") + "\n");
  return EXIT.USAGE;
}
