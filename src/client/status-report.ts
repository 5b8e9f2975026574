// The client's part of `hashrelay status`: the last tick, each source and the daemon, as the state folder says (read only).
import { describeTickSchedule, nextScheduledTick, tickSchedule, type TickSchedule } from "../config/tick-schedule.ts";
import { formatSize } from "../config/units.ts";
import { daemonInfo, daemonLine, type DaemonInfo } from "../daemon/daemon-status.ts";
import { when, type DownKind } from "../daemon/status-line.ts";
import type { ClientConfig } from "../io/config-file.ts";
import { localTimeZone } from "../io/local-time-zone.ts";
import type { HeldArchive } from "../protocol/messages.ts";
import { readDaemonRecord, type DaemonRecord } from "./service.ts";
import { nameMismatchMessage, type NameMismatch } from "./server-name.ts";
import { ClientState } from "./state.ts";

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
  /** "busy": the server had no room for this client within a whole busy window (it answered; it is not down). */
  server: "up" | "down" | "busy" | "unknown";
  /** The running daemon's tick waits its turn at a busy server now: since when, next try. */
  queued: { since: string; retry: string } | null;
  since: string | null;
  kind: DownKind | null;
  reason: string | null;
  lastTick: string | null;
  daemon: DaemonInfo;
  nextTick: string;
  /** "daemon": what the running daemon planned; "schedule": computed from the config (no daemon running); "running": a tick runs since nextTick. */
  nextTickFrom: "daemon" | "schedule" | "running";
  /** The retry the running daemon planned before nextTick, while the server is down; null when none. */
  retry: string | null;
  schedule: string;
  /** The zone cron reads the schedule in (client.timezone, else the machine's); times are shown in it. */
  timezone: string;
  /** client.splay, and this client's fixed delay after each scheduled time (ms; 0: no splay). */
  splayMs: number;
  splayOffsetMs: number;
  /** The schedule as the log says it: "0 3 * * * in Europe/Paris (the machine's zone), splay 15m (this client +7m12s)". */
  scheduleDetail: string;
  /** The server lists this client's key under another name than client.name (as of the last session); null when not. */
  nameMismatch: NameMismatch | null;
  sources: ClientSourceStatus[];
}

/** What the state folder says; reads only (never creates the folder or a file in it). `machineZone`: the zone without client.timezone. */
export function clientStatus(config: ClientConfig, now: Date, machineZone = localTimeZone()): ClientStatus {
  const { client } = config;
  const schedule = tickSchedule(client, machineZone);
  const state = new ClientState(client.state);
  const last = state.lastTick();
  const record = readDaemonRecord(client.state);
  const daemon = daemonInfo(record, config.hash);
  const sources = client.paths.map((source): ClientSourceStatus => {
    const result = last?.results.find((r) => r.name === source.name);
    const kept = state.source(source.name);
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
      lastSuccess: kept ? { at: kept.at, file: kept.file } : null,
      ...(result?.held ? { held: result.held } : {}),
    };
  });
  return {
    name: client.name,
    serverAddress: `${client.server.host.includes(":") ? `[${client.server.host}]` : client.server.host}:${client.server.port}`,
    server: last?.server === "down" && last.kind === "busy" ? "busy" : (last?.server ?? "unknown"),
    queued: daemon.running && record?.tickRunningSince ? (record.busy ?? null) : null,
    since: last ? (last.since ?? last.at) : null,
    kind: last?.server === "down" ? (last.kind ?? null) : null,
    reason: last?.server === "down" ? (last.reason ?? null) : null,
    lastTick: last?.at ?? null,
    daemon,
    ...nextTick(daemon.running ? record : null, schedule, now),
    schedule: client.scheduleText,
    timezone: schedule.zone,
    splayMs: schedule.splayMs,
    splayOffsetMs: schedule.offsetMs,
    scheduleDetail: describeTickSchedule(schedule, client.scheduleText),
    // A mismatch recorded under another client.name was fixed by that edit: the next session says more.
    nameMismatch: last?.nameMismatch?.configured === client.name ? last.nameMismatch : null,
    sources,
  };
}

/** The tick in flight or the ones the running daemon planned; without a daemon, the schedule's next time from now. */
function nextTick(
  running: DaemonRecord | null,
  schedule: TickSchedule,
  now: Date,
): Pick<ClientStatus, "nextTick" | "nextTickFrom" | "retry"> {
  if (running?.tickRunningSince) return { nextTick: running.tickRunningSince, nextTickFrom: "running", retry: null };
  if (running?.nextTick) return { nextTick: running.nextTick, nextTickFrom: "daemon", retry: running.nextRetry ?? null };
  return { nextTick: new Date(nextScheduledTick(schedule, now.getTime())).toISOString(), nextTickFrom: "schedule", retry: null };
}

/** The report as the terminal shows it; `config` is the file on disk (its path and hash). */
export function clientStatusLines(c: ClientStatus, config: { file: string; hash: string }, now: Date): string[] {
  const lines = [`HashRelay client ${c.name} — config ${config.file} (sha256 ${config.hash.slice(0, 16)})`];
  const state = { up: "Up", down: "Down", busy: "Busy" } as const;
  if (c.queued)
    lines.push(
      `Server ${c.serverAddress}: Busy, this client is queued since ${when(c.queued.since, now)}; next try ${when(c.queued.retry, now)}`,
    );
  else if (c.server === "unknown") lines.push(`Server ${c.serverAddress}: unknown (no tick yet)`);
  else lines.push(`Server ${c.serverAddress}: ${state[c.server]} since ${when(c.since!, now)}${c.reason ? ` — ${c.reason}` : ""}`);
  if (c.lastTick) lines.push(`Last tick: ${when(c.lastTick, now)}`);
  if (c.nameMismatch) lines.push(`Name: ${nameMismatchMessage(c.nameMismatch)}`);
  lines.push(daemonLine(c.daemon, "HashRelay.client", now));
  const next =
    c.nextTickFrom === "running"
      ? `running now (since ${when(c.nextTick, now)})`
      : `${when(c.nextTick, now, c.timezone)}${c.nextTickFrom === "schedule" ? " by the schedule" : ""}`;
  if (c.retry) lines.push(`Retry: ${when(c.retry, now, c.timezone)}, as the server was down at the last tick`);
  lines.push(`Next tick: ${next}, schedule ${c.scheduleDetail}`);
  lines.push("Sources:");
  for (const s of c.sources) lines.push(...sourceLines(s, c.name, now));
  return lines;
}

/** The source's last result; its last success when that result was not one; how to release it when the server holds it. */
function sourceLines(s: ClientSourceStatus, client: string, now: Date): string[] {
  const result = s.status === null ? "not yet backed up" : s.status;
  const backedUp = s.status === "sent" || s.status === "unchanged";
  const detail = backedUp ? `${s.archive}, ${formatSize(s.bytesSent)} sent (${s.chunksSent} of ${s.chunksTotal} chunks)` : (s.error ?? "");
  const lines = [`  ${s.name.padEnd(16)} ${result.padEnd(10)} ${detail}`.trimEnd()];
  if (s.lastSuccess && !backedUp) lines.push(`  ${"".padEnd(16)} last success ${s.lastSuccess.file}, ${when(s.lastSuccess.at, now)}`);
  if (s.held)
    lines.push(
      `  ${"".padEnd(16)} HELD: the server keeps ${s.held.file} since ${when(s.held.since, now)}: suspect replacement (${s.held.reason}); release on the server: hashrelay release ${s.name} --client ${client}`,
    );
  return lines;
}
