// The client daemon's face to systemd (READY=1, STATUS=, WATCHDOG=1) and to `hashrelay status` (state/daemon.json).
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { ServiceNotifier } from "../io/sd-notify.ts";
import type { ClientState } from "./state.ts";
import { clientStatusLine } from "../daemon/status-line.ts";

/** What a running daemon says about itself, for `hashrelay status` (which may run while it does, or not). */
export interface DaemonRecord {
  pid: number;
  startedAt: string;
  /** Hash of the config the daemon runs on (compare with the file's to see a pending reload). */
  configHash: string;
  schedule: string;
  /** The next tick by the schedule. */
  nextTick: string | null;
  /** A retry before it, while the server is down (client/tick-plan.ts). */
  nextRetry?: string | null;
  tickRunningSince: string | null;
  /** The tick in flight waits its turn at a busy server: since when, and when it tries again. */
  busy?: { since: string; retry: string } | null;
  stoppedAt?: string;
}

export const DAEMON_FILE = "daemon.json";

/** Asks the daemon for a tick now (`hashrelay backup-now`); it installs the handler before daemon.json names its pid. */
export const TICK_NOW_SIGNAL = "SIGUSR1";

/** Reads state/daemon.json; null when absent or unreadable. */
export function readDaemonRecord(stateDir: string): DaemonRecord | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, DAEMON_FILE), "utf8")) as DaemonRecord;
  } catch {
    return null;
  }
}

/** When the daemon ticks next, as its status shows it (ms since the epoch). */
export interface PlannedTicks {
  next: number;
  retry: number | null;
}

/** Hooks the daemon loop calls; each keeps systemd's STATUS= line and state/daemon.json current. Never throws. */
export class ClientService {
  private record: DaemonRecord;
  private stopWatchdog: () => void = () => undefined;
  private writing: Promise<void> = Promise.resolve();
  /** The STATUS= line last sent, so that a refresh sends only a change. */
  private sent = "";

  constructor(
    private state: ClientState,
    private readonly notifier: ServiceNotifier,
    config: { hash: string; client: { scheduleText: string } },
    private readonly now: () => Date = () => new Date(),
  ) {
    this.record = {
      pid: process.pid,
      startedAt: now().toISOString(),
      configHash: config.hash,
      schedule: config.client.scheduleText,
      nextTick: null,
      nextRetry: null,
      tickRunningSince: null,
    };
  }

  /** The daemon is up and knows its first tick: READY=1, watchdog on. */
  started(planned: PlannedTicks): void {
    this.plan(planned);
    this.save();
    this.sent = this.line();
    this.notifier.ready(this.sent);
    this.stopWatchdog = this.notifier.startWatchdog();
  }

  tickStarted(): void {
    this.record.tickRunningSince = this.now().toISOString();
    this.record.nextTick = null;
    this.record.nextRetry = null;
    this.save();
    this.refresh();
  }

  /** The tick in flight found the server busy and waits its turn (client/busy-wait.ts): until `retryAt`, since `since`. */
  waiting(retryAt: Date, since: Date): void {
    this.record.busy = { since: since.toISOString(), retry: retryAt.toISOString() };
    this.save();
    this.refresh();
  }

  tickDone(planned: PlannedTicks): void {
    this.record.tickRunningSince = null;
    this.record.busy = null;
    this.plan(planned);
    this.save();
    this.refresh();
  }

  /** The plan changed (a reload, a retry cancelled): the times in daemon.json and on the line. */
  replanned(planned: PlannedTicks): void {
    if (this.record.tickRunningSince) {
      this.save();
      return; // the tick in flight finishes on its config; tickDone then shows the plan
    }
    this.tickDone(planned);
  }

  /** A reloaded config is in force (the client's reload part calls this at commit); `state` follows client.state. */
  configApplied(config: { hash: string; client: { scheduleText: string } }, planned: PlannedTicks, state: ClientState): void {
    this.state = state;
    this.record.configHash = config.hash;
    this.record.schedule = config.client.scheduleText;
    this.replanned(planned);
  }

  /** Sends STATUS= again if the line changed, e.g. when another process (`client --once`) recorded a tick. */
  refresh(): void {
    const line = this.line();
    if (line === this.sent) return;
    this.sent = line;
    this.notifier.status(line);
  }

  stopping(): void {
    this.notifier.stopping();
    this.stopWatchdog();
    this.record.stoppedAt = this.now().toISOString();
    this.save();
  }

  /** Resolves once every state write queued so far is on disk. */
  flushed(): Promise<void> {
    return this.writing;
  }

  private plan(planned: PlannedTicks): void {
    this.record.nextTick = new Date(planned.next).toISOString();
    this.record.nextRetry = planned.retry === null ? null : new Date(planned.retry).toISOString();
  }

  private line(): string {
    const { tickRunningSince, nextTick, nextRetry, busy } = this.record;
    const plan = {
      next: nextTick ? new Date(nextTick) : null,
      retry: nextRetry ? new Date(nextRetry) : null,
      ...(tickRunningSince ? { runningSince: new Date(tickRunningSince) } : {}),
      ...(busy ? { busy: { since: new Date(busy.since), retry: new Date(busy.retry) } } : {}),
    };
    return clientStatusLine(this.state.lastTick(), plan, this.now());
  }

  private save(): void {
    const text = JSON.stringify(this.record, null, 2) + "\n";
    const file = path.join(this.state.dir, DAEMON_FILE);
    this.writing = this.writing.then(() => writeFileAtomic(file, text, 0o600)).catch(() => undefined);
  }
}
