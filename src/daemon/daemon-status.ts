// Whether an agent's daemon runs, judged from the record it keeps on disk; the `Daemon:` line of `hashrelay status`.
import fs from "node:fs";
import { when } from "./status-line.ts";

/** True when the record's process still runs and has not recorded its stop. */
export function daemonRunning(record: { pid: number; stoppedAt?: string } | null): boolean {
  return record !== null && !record.stoppedAt && hashrelayRuns(record.pid);
}

/**
 * True when `pid` is a live hashrelay process (EPERM counts: it runs as the service user). A pid
 * reused by another program after a crash or reboot is not taken for the daemon.
 */
export function hashrelayRuns(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("hashrelay");
  } catch {
    return true; // no /proc to ask: trust kill(0)
  }
}

/** What `hashrelay status` says of a daemon. */
export interface DaemonInfo {
  running: boolean;
  pid: number | null;
  startedAt: string | null;
  /** Hash of the config the daemon runs on, and whether it is the file's current one. */
  configHash: string | null;
  configCurrent: boolean | null;
}

/** The daemon as its record (client: state/daemon.json, server: server-status.json) says, against the file's config hash. */
export function daemonInfo(
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

/** "Daemon: running, pid 42, since …", or how to start the systemd `unit`. */
export function daemonLine(d: DaemonInfo, unit: string, now: Date): string {
  if (!d.running) return `Daemon: not running (systemctl start ${unit})`;
  return `Daemon: running, pid ${d.pid}, since ${when(d.startedAt!, now)}`;
}
