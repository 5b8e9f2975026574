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
  nextTick: string | null;
  tickRunningSince: string | null;
  stoppedAt?: string;
}

export const DAEMON_FILE = "daemon.json";

/** Reads state/daemon.json; null when absent or unreadable. */
export function readDaemonRecord(stateDir: string): DaemonRecord | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, DAEMON_FILE), "utf8")) as DaemonRecord;
  } catch {
    return null;
  }
}

/** Hooks the daemon loop calls; each keeps systemd's STATUS= line and state/daemon.json current. Never throws. */
export class ClientService {
  private record: DaemonRecord;
  private stopWatchdog: () => void = () => undefined;
  private writing: Promise<void> = Promise.resolve();

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
      tickRunningSince: null,
    };
  }

  /** The daemon is up and knows its first tick: READY=1, watchdog on. */
  started(firstTickMs: number): void {
    this.record.nextTick = new Date(firstTickMs).toISOString();
    this.save();
    this.notifier.ready(this.line());
    this.stopWatchdog = this.notifier.startWatchdog();
  }

  tickStarted(): void {
    this.record.tickRunningSince = this.now().toISOString();
    this.record.nextTick = null;
    this.save();
    this.notifier.status(this.line());
  }

  tickDone(nextTickMs: number): void {
    this.record.tickRunningSince = null;
    this.record.nextTick = new Date(nextTickMs).toISOString();
    this.save();
    this.notifier.status(this.line());
  }

  /** A reloaded config is in force (the client's reload part calls this at commit); `state` follows client.state. */
  configApplied(config: { hash: string; client: { scheduleText: string } }, nextTickMs: number, state: ClientState): void {
    this.state = state;
    this.record.configHash = config.hash;
    this.record.schedule = config.client.scheduleText;
    if (this.record.tickRunningSince) {
      this.save();
      return; // the tick in flight finishes on its config; tickDone then shows the next one
    }
    this.tickDone(nextTickMs);
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

  private line(): string {
    const running = this.record.tickRunningSince ? new Date(this.record.tickRunningSince) : undefined;
    const next = this.record.nextTick ? new Date(this.record.nextTick) : null;
    return clientStatusLine(this.state.lastTick(), next, this.now(), running);
  }

  private save(): void {
    const text = JSON.stringify(this.record, null, 2) + "\n";
    const file = path.join(this.state.dir, DAEMON_FILE);
    this.writing = this.writing.then(() => writeFileAtomic(file, text, 0o600)).catch(() => undefined);
  }
}
