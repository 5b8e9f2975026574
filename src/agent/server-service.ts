// The server daemon's face to systemd (READY/STATUS/WATCHDOG), to Prometheus (server.metrics) and to `hashrelay status`.
import fs from "node:fs";
import path from "node:path";
import type { Config } from "../config/parse-config.ts";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { Logger } from "../io/log.ts";
import { listenMetrics, type MetricsListener } from "../io/metrics-http.ts";
import type { ServiceNotifier } from "../io/sd-notify.ts";
import { DERIVED_DIR, TRASH_DIR } from "../store/layout.ts";
import type { CatalogEntry, Store } from "../store/store.ts";
import type { RunningServer } from "./server-daemon.ts";
import { ServerMetrics, type StorageSnapshot } from "./server-metrics.ts";
import type { SessionEvents } from "./server-session.ts";
import { serverStatusLine } from "./service-status.ts";

type ServerConfig = Config & { server: NonNullable<Config["server"]> };

/** What the server daemon keeps in <storage>/.hashrelay/server-status.json for `hashrelay status`. */
export interface ServerActivityRecord {
  pid: number;
  startedAt: string;
  configHash: string;
  /** Clients seen since the file was created (it survives restarts): last session time, peer address, sessions. */
  clients: Record<string, { lastSeen: string; from: string; sessions: number }>;
  lastArchive: { client: string; name: string; file: string; storedAt: string } | null;
  stoppedAt?: string;
}

const ACTIVITY_FILE = "server-status.json";
const LOG_FILE = "hashrelay-server.log";
const STATUS_REFRESH_MS = 60_000;

/** <storage>/.hashrelay: where the server keeps its log and activity (no separate state folder). Created 0750. */
export function serverStateDir(storage: string): string {
  const dir = path.join(storage, DERIVED_DIR);
  fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  return dir;
}

/** <storage>/.hashrelay/hashrelay-server.log; undefined when the folder cannot be made (opening the storage then says why). */
export function serverLogFile(storage: string): string | undefined {
  try {
    return path.join(serverStateDir(storage), LOG_FILE);
  } catch {
    return undefined;
  }
}

/** Reads server-status.json; null when absent or unreadable (never creates anything). */
export function readServerActivity(storage: string): ServerActivityRecord | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(storage, DERIVED_DIR, ACTIVITY_FILE), "utf8")) as ServerActivityRecord;
  } catch {
    return null;
  }
}

/** Free bytes for this user on the file system holding `dir`, or null. */
export function freeBytes(dir: string): number | null {
  try {
    const st = fs.statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return null;
  }
}

/** Bytes and count of the items waiting in <storage>/.trash (sidecars and temp files left out). */
export function trashUsage(storage: string): { bytes: number; items: number } {
  let bytes = 0;
  let items = 0;
  const root = path.join(storage, TRASH_DIR);
  for (const client of readdirOrEmpty(root)) {
    for (const item of readdirOrEmpty(path.join(root, client))) {
      if (item.startsWith(".") || item.endsWith(".trashed")) continue;
      const st = fs.lstatSync(path.join(root, client, item), { throwIfNoEntry: false });
      if (st?.isFile()) {
        bytes += st.size;
        items++;
      }
    }
  }
  return { bytes, items };
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Built before the listener (its `events` go to startServer), started once the server listens.
 * Never throws after start: a failing status write or metrics render is logged, serving goes on.
 */
export class ServerService {
  readonly metrics: ServerMetrics;
  readonly events: SessionEvents & { sessionClosed(): void };
  private running: RunningServer | null = null;
  private activity: ServerActivityRecord;
  private httpListener: MetricsListener | null = null;
  private stopWatchdog: () => void = () => undefined;
  private refreshTimer: ReturnType<typeof setInterval> | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private config: ServerConfig,
    private readonly log: Logger,
    private readonly notifier: ServiceNotifier,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.metrics = new ServerMetrics(config.server.clients.map((c) => c.name), now().getTime());
    const previous = readServerActivity(config.server.storage);
    this.activity = {
      pid: process.pid,
      startedAt: now().toISOString(),
      configHash: config.hash,
      clients: previous?.clients ?? {},
      lastArchive: previous?.lastArchive ?? null,
    };
    this.events = {
      sessionOpened: (client, remote) => {
        this.metrics.sessionOpened(client);
        const seen = this.activity.clients[client];
        this.activity.clients[client] = { lastSeen: this.now().toISOString(), from: remote, sessions: (seen?.sessions ?? 0) + 1 };
        this.save();
        this.refreshStatus();
      },
      sessionClosed: () => {
        this.metrics.sessionClosed();
        this.refreshStatus();
      },
      handshakeRefused: (code) => this.metrics.handshakeRefused(code),
      manifestPage: (client, entries, needed) => this.metrics.manifestPage(client, entries, needed),
      chunkReceived: (client, bytes) => this.metrics.chunkReceived(client, bytes),
      archiveStored: (client, entry) => {
        this.metrics.archiveStored(client);
        this.activity.lastArchive = { client, name: entry.name, file: entry.file, storedAt: entry.storedAt };
        this.save();
        this.refreshStatus();
      },
    };
  }

  /** Serves metrics when configured, then READY=1 with the first STATUS= line and the watchdog. Throws USAGE if the metrics address cannot be bound. */
  async start(running: RunningServer): Promise<void> {
    this.running = running;
    const metrics = this.config.server.metrics;
    if (metrics) {
      this.httpListener = await listenMetrics(metrics.host, metrics.port, () => this.renderMetrics());
      this.log.log("info", `metrics on http://${metrics.host.includes(":") ? `[${metrics.host}]` : metrics.host}:${this.httpListener.port}/metrics`);
    }
    if (!this.activity.lastArchive) this.activity.lastArchive = newestArchive(this.config, running.store);
    this.save();
    this.notifier.ready(this.statusLine());
    this.stopWatchdog = this.notifier.startWatchdog();
    this.refreshTimer = setInterval(() => this.refreshStatus(), STATUS_REFRESH_MS);
    this.refreshTimer.unref();
  }

  /**
   * A reloaded config is in force (issue 4's reload calls this): new clients get counters, STATUS= and
   * server-status.json follow. A changed server.metrics address takes a restart.
   */
  configApplied(config: ServerConfig): void {
    this.config = config;
    this.metrics.addClients(config.server.clients.map((c) => c.name));
    this.activity.configHash = config.hash;
    this.save();
    this.refreshStatus();
  }

  /** The port metrics are served on (null when off). */
  get metricsPort(): number | null {
    return this.httpListener?.port ?? null;
  }

  /** STOPPING=1; the watchdog and timers end; the activity file records the stop. */
  async stop(): Promise<void> {
    this.notifier.stopping();
    this.stopWatchdog();
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    await this.httpListener?.close();
    this.activity.stoppedAt = this.now().toISOString();
    this.save();
    await this.writing;
  }

  /** Counters plus what is on disk now. */
  renderMetrics(): string {
    return this.metrics.render(this.snapshot());
  }

  snapshot(): StorageSnapshot {
    const store = this.running?.store;
    const latest = new Map<string, CatalogEntry>();
    let archiveBytes = 0;
    for (const { name: client } of this.config.server.clients) {
      for (const entry of store?.list(client) ?? []) {
        archiveBytes += entry.size;
        const key = `${client}/${entry.name}`;
        const seen = latest.get(key);
        if (!seen || entry.storedAt > seen.storedAt) latest.set(key, entry);
      }
    }
    const trash = trashUsage(this.config.server.storage);
    return {
      latest: [...latest.values()].map((e) => ({ client: e.client, name: e.name, storedAtMs: Date.parse(e.storedAt), size: e.size })),
      trashBytes: trash.bytes,
      trashItems: trash.items,
      usedBytes: archiveBytes + trash.bytes,
      freeBytes: freeBytes(this.config.server.storage),
    };
  }

  private statusLine(): string {
    return serverStatusLine(
      {
        clients: this.config.server.clients.length,
        connected: this.metrics.activeSessions,
        lastArchive: this.activity.lastArchive,
        freeBytes: freeBytes(this.config.server.storage),
      },
      this.now(),
    );
  }

  private refreshStatus(): void {
    if (this.running) this.notifier.status(this.statusLine());
  }

  private save(): void {
    const text = JSON.stringify(this.activity, null, 2) + "\n";
    const file = path.join(serverStateDir(this.config.server.storage), ACTIVITY_FILE);
    this.writing = this.writing
      .then(() => writeFileAtomic(file, text, 0o640))
      .catch((err: Error) => this.log.log("warn", `cannot write ${file}: ${err.message}`));
  }
}

/** The most recently stored archive over every configured client, from the catalog. */
function newestArchive(config: ServerConfig, store: Store): ServerActivityRecord["lastArchive"] {
  let best: CatalogEntry | null = null;
  for (const { name } of config.server.clients) {
    for (const entry of store.list(name)) if (!best || entry.storedAt > best.storedAt) best = entry;
  }
  return best ? { client: best.client, name: best.name, file: best.file, storedAt: best.storedAt } : null;
}
