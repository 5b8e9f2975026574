// `hashrelay status`: what the client or server state on disk says, whether or not the daemon runs.
import fs from "node:fs";
import path from "node:path";
import { parseArchiveFileName } from "../archive/naming.ts";
import type { Config } from "../config/parse-config.ts";
import { nextRun } from "../config/schedule.ts";
import { StoreLayout, TRASH_DIR } from "../store/layout.ts";
import { readHolds, type Hold } from "../store/holds.ts";
import { readSidecar } from "../store/trash.ts";
import type { HeldArchive } from "../protocol/messages.ts";
import { ClientState } from "../client/state.ts";
import { daemonRunning, readDaemonRecord } from "../client/service.ts";
import type { DownKind } from "../daemon/status-line.ts";
import { freeBytes, readServerActivity } from "../server/service.ts";
import { formatSize } from "../config/units.ts";

export interface DaemonInfo {
  running: boolean;
  pid: number | null;
  startedAt: string | null;
  /** Hash of the config the daemon runs on, and whether it is the file's current one. */
  configHash: string | null;
  configCurrent: boolean | null;
}

export interface ClientSourceStatus {
  name: string;
  path: string;
  /** Result of the last tick for this source (null: not in the last tick, e.g. added since). */
  status: string | null;
  archive: string | null;
  bytesSent: number;
  chunksSent: number;
  chunksTotal: number;
  /** When that tick ran. */
  at: string | null;
  error?: string;
  /** The last archive the server confirmed with a receipt. */
  lastSuccess: { at: string; file: string } | null;
  /** The server holds this source's previous archive as a suspect replacement (as of the last tick). */
  held?: HeldArchive;
}

export interface ClientStatus {
  name: string;
  serverAddress: string;
  server: "up" | "down" | "unknown";
  since: string | null;
  kind: DownKind | null;
  reason: string | null;
  lastTick: string | null;
  daemon: DaemonInfo;
  nextTick: string;
  /** "daemon": what the running daemon planned; "schedule": computed from the config (no daemon running). */
  nextTickFrom: "daemon" | "schedule" | "running";
  schedule: string;
  sources: ClientSourceStatus[];
}

export interface ServerArchiveStatus {
  name: string;
  file: string;
  size: number;
  /** The archive's time stamp (from its name), and its age when the report was made. */
  at: string;
  ageSeconds: number;
  /** Archives of this name in place (retention.keep may keep more than one). */
  kept: number;
}

export interface ServerClientStatus {
  name: string;
  lastSeen: string | null;
  from: string | null;
  sessions: number;
  archives: ServerArchiveStatus[];
}

export interface TrashStatus {
  client: string;
  item: string;
  size: number;
  trashedAt: string | null;
  purgeAt: string | null;
}

export interface ServerStatus {
  storage: string;
  usedBytes: number;
  freeBytes: number | null;
  daemon: DaemonInfo;
  clients: ServerClientStatus[];
  trash: TrashStatus[];
  trashBytes: number;
  trashFor: string;
  /** Names whose last good archive is held out of retention (suspect replacements), and hold files that cannot be read. */
  holds: Hold[];
  unreadableHolds: string[];
}

export interface StatusReport {
  config: string;
  configHash: string;
  client?: ClientStatus;
  server?: ServerStatus;
}

/** Gathers the report; reads only (never creates a state folder or file). */
export async function statusReport(config: Config, now: Date): Promise<StatusReport> {
  const report: StatusReport = { config: config.file, configHash: config.hash };
  if (config.client) report.client = clientStatus(config as Config & { client: NonNullable<Config["client"]> }, now);
  if (config.server) report.server = await serverStatus(config as Config & { server: NonNullable<Config["server"]> }, now);
  return report;
}

function daemonInfo(
  record: { pid: number; startedAt: string; configHash: string; stoppedAt?: string } | null,
  configHash: string,
): DaemonInfo {
  const running = daemonRunning(record);
  return {
    running,
    pid: running ? record!.pid : null,
    startedAt: running ? record!.startedAt : null,
    configHash: running ? record!.configHash : null,
    configCurrent: running ? record!.configHash === configHash : null,
  };
}

function clientStatus(config: Config & { client: NonNullable<Config["client"]> }, now: Date): ClientStatus {
  const { client } = config;
  const state = new ClientState(client.state);
  const last = state.lastTick();
  const record = readDaemonRecord(client.state);
  const daemon = daemonInfo(record, config.hash);
  let nextTick = new Date(nextRun(client.schedule, now.getTime())).toISOString();
  let nextTickFrom: ClientStatus["nextTickFrom"] = "schedule";
  if (daemon.running && record?.tickRunningSince) {
    nextTick = record.tickRunningSince;
    nextTickFrom = "running";
  } else if (daemon.running && record?.nextTick) {
    nextTick = record.nextTick;
    nextTickFrom = "daemon";
  }
  const sources = client.paths.map((source): ClientSourceStatus => {
    const result = last?.results.find((r) => r.name === source.name);
    const record = state.source(source.name);
    return {
      name: source.name,
      path: source.path,
      status: result?.status ?? null,
      archive: result?.archive ?? null,
      bytesSent: result?.bytesSent ?? 0,
      chunksSent: result?.chunksSent ?? 0,
      chunksTotal: result?.chunksTotal ?? 0,
      at: result ? last!.at : null,
      ...(result?.error ? { error: result.error } : {}),
      lastSuccess: record ? { at: record.at, file: record.file } : null,
      ...(result?.held ? { held: result.held } : {}),
    };
  });
  return {
    name: client.name,
    serverAddress: `${client.server.host.includes(":") ? `[${client.server.host}]` : client.server.host}:${client.server.port}`,
    server: last?.server ?? "unknown",
    since: last ? (last.since ?? last.at) : null,
    kind: last?.server === "down" ? (last.kind ?? null) : null,
    reason: last?.server === "down" ? (last.reason ?? null) : null,
    lastTick: last?.at ?? null,
    daemon,
    nextTick,
    nextTickFrom,
    schedule: client.scheduleText,
    sources,
  };
}

async function serverStatus(config: Config & { server: NonNullable<Config["server"]> }, now: Date): Promise<ServerStatus> {
  const { server } = config;
  const activity = readServerActivity(server.storage);
  let usedBytes = 0;
  const clients = server.clients.map(({ name: client }): ServerClientStatus => {
    const byName = new Map<string, { file: string; size: number; at: Date; kept: number }>();
    for (const file of readdirOrEmpty(path.join(server.storage, client))) {
      const parsed = parseArchiveFileName(file);
      const st = parsed ? fs.statSync(path.join(server.storage, client, file), { throwIfNoEntry: false }) : undefined;
      if (!parsed || !st?.isFile()) continue;
      usedBytes += st.size;
      const seen = byName.get(parsed.name);
      if (!seen || parsed.at > seen.at) byName.set(parsed.name, { file, size: st.size, at: parsed.at, kept: (seen?.kept ?? 0) + 1 });
      else seen.kept++;
    }
    const seen = activity?.clients[client];
    return {
      name: client,
      lastSeen: seen?.lastSeen ?? null,
      from: seen?.from ?? null,
      sessions: seen?.sessions ?? 0,
      archives: [...byName.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, a]) => ({
          name,
          file: a.file,
          size: a.size,
          at: a.at.toISOString(),
          ageSeconds: Math.max(0, Math.round((now.getTime() - a.at.getTime()) / 1000)),
          kept: a.kept,
        })),
    };
  });

  const layout = new StoreLayout(server.storage);
  const trash: TrashStatus[] = [];
  for (const client of readdirOrEmpty(path.join(server.storage, TRASH_DIR))) {
    for (const item of readdirOrEmpty(path.join(server.storage, TRASH_DIR, client))) {
      if (item.startsWith(".") || item.endsWith(".trashed")) continue;
      const st = fs.lstatSync(path.join(server.storage, TRASH_DIR, client, item), { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      const trashedAtMs = await readSidecar(layout, client, item).catch(() => null);
      trash.push({
        client,
        item,
        size: st.size,
        trashedAt: trashedAtMs === null ? null : new Date(trashedAtMs).toISOString(),
        purgeAt: trashedAtMs === null ? null : new Date(trashedAtMs + server.retention.trashForMs).toISOString(),
      });
    }
  }
  trash.sort((a, b) => (a.purgeAt ?? "").localeCompare(b.purgeAt ?? "") || a.item.localeCompare(b.item));
  const trashBytes = trash.reduce((n, t) => n + t.size, 0);
  const holds: Hold[] = [];
  const unreadableHolds: string[] = [];
  for (const found of await readHolds(layout).catch(() => [])) {
    if ("problem" in found) unreadableHolds.push(`${found.path}: ${found.problem}`);
    else holds.push(found);
  }
  return {
    storage: server.storage,
    usedBytes: usedBytes + trashBytes,
    freeBytes: freeBytes(server.storage),
    daemon: daemonInfo(activity, config.hash),
    clients,
    trash,
    trashBytes,
    trashFor: formatDuration(server.retention.trashForMs),
    holds,
    unreadableHolds,
  };
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** "2026-11-26 12:03:10" in local time, and "(5 min ago)" / "(in 2 h)" beside it. */
export function when(iso: string, now: Date): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const delta = Math.round((d.getTime() - now.getTime()) / 1000);
  return `${stamp} (${delta < 0 ? `${formatAge(-delta)} ago` : delta === 0 ? "now" : `in ${formatAge(delta)}`})`;
}

/** "42 s", "5 min", "3 h", "2 d". */
export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  for (const [unit, size] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ] as const)
    if (s % size === 0 && s >= size) return `${s / size}${unit}`;
  return `${s}s`;
}

function daemonLine(d: DaemonInfo, unit: string, now: Date): string {
  if (!d.running) return `Daemon: not running (systemctl start ${unit})`;
  return `Daemon: running, pid ${d.pid}, since ${when(d.startedAt!, now)}`;
}

/** The report as the terminal shows it. */
export function formatStatus(report: StatusReport, now: Date): string {
  const lines: string[] = [];
  const c = report.client;
  if (c) {
    lines.push(`HashRelay client ${c.name} — config ${report.config} (sha256 ${report.configHash.slice(0, 16)})`);
    if (c.server === "unknown") lines.push(`Server ${c.serverAddress}: unknown (no tick yet)`);
    else
      lines.push(
        `Server ${c.serverAddress}: ${c.server === "up" ? "Up" : "Down"} since ${when(c.since!, now)}${c.reason ? ` — ${c.reason}` : ""}`,
      );
    if (c.lastTick) lines.push(`Last tick: ${when(c.lastTick, now)}`);
    lines.push(daemonLine(c.daemon, "HashRelay.client", now));
    const next =
      c.nextTickFrom === "running"
        ? `running now (since ${when(c.nextTick, now)})`
        : `${when(c.nextTick, now)}${c.nextTickFrom === "schedule" ? " by the schedule" : ""}`;
    lines.push(`Next tick: ${next}, schedule ${c.schedule}`);
    lines.push("Sources:");
    for (const s of c.sources) {
      const result = s.status === null ? "not yet backed up" : s.status;
      const detail =
        s.status === "sent" || s.status === "unchanged"
          ? `${s.archive}, ${formatSize(s.bytesSent)} sent (${s.chunksSent} of ${s.chunksTotal} chunks)`
          : (s.error ?? "");
      lines.push(`  ${s.name.padEnd(16)} ${result.padEnd(10)} ${detail}`.trimEnd());
      if (s.lastSuccess && s.status !== "sent" && s.status !== "unchanged")
        lines.push(`  ${"".padEnd(16)} last success ${s.lastSuccess.file}, ${when(s.lastSuccess.at, now)}`);
      if (s.held)
        lines.push(
          `  ${"".padEnd(16)} HELD: the server keeps ${s.held.file} since ${when(s.held.since, now)}: suspect replacement (${s.held.reason}); release on the server: hashrelay release ${s.name} --client ${c.name}`,
        );
    }
  }
  const s = report.server;
  if (s) {
    if (c) lines.push("");
    const free = s.freeBytes === null ? "free space unknown" : `${formatSize(s.freeBytes)} free`;
    lines.push(
      `HashRelay server — storage ${s.storage}: ${formatSize(s.usedBytes)} used, ${free} — config ${report.config} (sha256 ${report.configHash.slice(0, 16)})`,
    );
    lines.push(daemonLine(s.daemon, "HashRelay.server", now));
    lines.push("Clients:");
    for (const client of s.clients) {
      lines.push(
        `  ${client.name.padEnd(16)} ${client.lastSeen ? `last seen ${when(client.lastSeen, now)} from ${client.from} (${client.sessions} sessions)` : "never seen"}`,
      );
      for (const a of client.archives) {
        lines.push(
          `    ${a.name.padEnd(14)} ${a.file}  ${formatSize(a.size)}, ${formatAge(a.ageSeconds)} old${a.kept > 1 ? ` (${a.kept} kept)` : ""}`,
        );
      }
    }
    lines.push(
      s.trash.length === 0
        ? `Trash: empty (superseded archives wait ${s.trashFor})`
        : `Trash: ${s.trash.length} item(s), ${formatSize(s.trashBytes)} (purged ${s.trashFor} after they were superseded)`,
    );
    for (const t of s.trash) {
      lines.push(
        `  ${t.client}/${t.item}  ${formatSize(t.size)}, purged ${t.purgeAt ? when(t.purgeAt, now) : "at the next purge (no trash time recorded)"}`,
      );
    }
    lines.push(...holdLines(s.holds, s.unreadableHolds, now));
  }
  return lines.join("\n") + "\n";
}

/** "Holds: none", or one line per held name with how to release it (server status and hashrelay release --list). */
export function holdLines(holds: readonly Hold[], unreadable: readonly string[], now: Date): string[] {
  const lines = [
    holds.length === 0
      ? "Holds: none (no suspect replacement)"
      : `Holds: ${holds.length} name(s) keep their last good archive out of retention (suspect replacement)`,
  ];
  for (const h of holds) {
    lines.push(
      `  ${h.client}/${h.name}  keeps ${h.kept} since ${when(h.since, now)}; suspect ${h.suspect}: ${h.reason}${h.consistent ? `; ${h.consistent} consistent backup(s) since` : ""}`,
    );
    lines.push(`    release: hashrelay release ${h.name} --client ${h.client}`);
  }
  for (const u of unreadable) lines.push(`  unreadable hold file ${u}`);
  return lines;
}
