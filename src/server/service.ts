// The server daemon's face to systemd (READY/STATUS/WATCHDOG), to Prometheus (server.metrics) and to `hashrelay status`.
import fs from "node:fs";
import path from "node:path";
import { HashRelayError } from "../errors.ts";
import type { Config } from "../config/parse-config.ts";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { Logger } from "../io/log.ts";
import { listenMetrics, type MetricsListener } from "../io/metrics-http.ts";
import type { ServiceNotifier } from "../io/sd-notify.ts";
import { readBucketUsage } from "../store/bucket-usage.ts";
import { DERIVED_DIR, TRASH_DIR } from "../store/layout.ts";
import { isTrashItemName } from "../store/trash.ts";
import type { IndexEntry, Store } from "../store/store.ts";
import type { ReloadPart } from "../daemon/reload.ts";
import type { RunningServer, ServerEvents } from "./daemon.ts";
import { ServerMetrics, type ScrubSnapshot, type SpaceSnapshot, type StorageSnapshot } from "./metrics.ts";
import { serverStatusLine } from "../daemon/status-line.ts";

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

/** Bytes and count of the items waiting in <storage>/.trash (sidecars and temp files left out), in all and per client. */
export function trashUsage(storage: string): { bytes: number; items: number; byClient: Map<string, number> } {
  let bytes = 0;
  let items = 0;
  const byClient = new Map<string, number>();
  const root = path.join(storage, TRASH_DIR);
  for (const client of readdirOrEmpty(root)) {
    for (const item of readdirOrEmpty(path.join(root, client))) {
      if (!isTrashItemName(item)) continue;
      const st = fs.lstatSync(path.join(root, client, item), { throwIfNoEntry: false });
      if (st?.isFile()) {
        bytes += st.size;
        items++;
        byClient.set(client, (byClient.get(client) ?? 0) + st.size);
      }
    }
  }
  return { bytes, items, byClient };
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Built before the server daemon (its `events` go there); `part` follows the config through every
 * reload (start-up included); `start` serves metrics and tells systemd READY=1 once the server listens.
 * Never throws after start: a failing status write or metrics render is logged, serving goes on.
 */
export class ServerService {
  readonly metrics: ServerMetrics;
  readonly events: ServerEvents & { sessionClosed(): void };
  private config: ServerConfig | null = null;
  private running: RunningServer | null = null;
  private activity: ServerActivityRecord | null = null;
  private httpListener: MetricsListener | null = null;
  private httpAddress: string | null = null;
  private stopWatchdog: () => void = () => undefined;
  private refreshTimer: ReturnType<typeof setInterval> | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly log: Logger,
    private readonly notifier: ServiceNotifier,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.metrics = new ServerMetrics([], now().getTime());
    this.events = {
      sessionOpened: (client, remote) => {
        this.metrics.sessionOpened(client);
        if (!this.activity) return;
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
      connectionRefused: (cause) => this.metrics.connectionRefused(cause),
      manifestPage: (client, entries, needed) => this.metrics.manifestPage(client, entries, needed),
      chunkReceived: (client, bytes) => this.metrics.chunkReceived(client, bytes),
      archiveStored: (client, entry) => {
        this.metrics.archiveStored(client);
        if (this.activity) this.activity.lastArchive = { client, name: entry.name, file: entry.file, storedAt: entry.storedAt };
        this.save();
        this.refreshStatus();
      },
    };
  }

  /**
   * The reload part: new clients get counters, STATUS= and server-status.json follow the config in
   * force. Once started, a changed server.metrics address is bound in prepare (a busy one vetoes the
   * reload) and swapped in at commit.
   */
  readonly part: ReloadPart = {
    name: "metrics",
    prepare: async (next) => {
      if (!next.server) return { commit: () => undefined }; // the server daemon's part vetoes it
      const config = next as ServerConfig;
      const address = metricsAddress(config);
      let listener: MetricsListener | null = null;
      if (this.running && address !== this.httpAddress && config.server.metrics) {
        listener = await listenMetrics(config.server.metrics.host, config.server.metrics.port, () => this.renderMetrics());
      }
      return {
        commit: () => {
          this.apply(config);
          if (this.running && address !== this.httpAddress) {
            void this.httpListener?.close();
            this.httpListener = listener;
            this.httpAddress = address;
            if (listener) this.log.log("info", `metrics on http://${address}/metrics`);
          }
        },
        abort: () => void listener?.close(),
      };
    },
  };

  private apply(config: ServerConfig): void {
    this.config = config;
    this.metrics.addClients(config.server.clients.map((c) => c.name));
    if (!this.activity) {
      const previous = readServerActivity(config.server.storage);
      this.activity = {
        pid: process.pid,
        startedAt: this.now().toISOString(),
        configHash: config.hash,
        clients: previous?.clients ?? {},
        lastArchive: previous?.lastArchive ?? null,
      };
    }
    this.activity.configHash = config.hash;
    this.save();
    this.refreshStatus();
  }

  /** Once the first config is in force and the server listens: metrics when configured, then READY=1, STATUS= and the watchdog. Throws USAGE if the metrics address cannot be bound. */
  async start(running: RunningServer): Promise<void> {
    const config = this.config;
    if (!config || !this.activity) throw new HashRelayError("INTERNAL", "the server service starts after the first config is applied");
    this.running = running;
    const metrics = config.server.metrics;
    if (metrics) {
      this.httpListener = await listenMetrics(metrics.host, metrics.port, () => this.renderMetrics());
      this.httpAddress = metricsAddress(config);
      this.log.log(
        "info",
        `metrics on http://${metrics.host.includes(":") ? `[${metrics.host}]` : metrics.host}:${this.httpListener.port}/metrics`,
      );
    }
    if (!this.activity.lastArchive) this.activity.lastArchive = newestArchive(config, running.store);
    this.save();
    this.notifier.ready(this.statusLine());
    this.stopWatchdog = this.notifier.startWatchdog();
    this.refreshTimer = setInterval(() => this.refreshStatus(), STATUS_REFRESH_MS);
    this.refreshTimer.unref();
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
    if (this.activity) this.activity.stoppedAt = this.now().toISOString();
    this.save();
    await this.writing;
  }

  /** Counters plus what is on disk now. */
  renderMetrics(): string {
    return this.metrics.render(this.snapshot(), this.running?.admissionCounts());
  }

  snapshot(): StorageSnapshot {
    const config = this.config;
    const store = this.running?.store;
    const latest = new Map<string, IndexEntry>();
    const archiveBytes = new Map<string, number>();
    for (const { name: client } of config?.server.clients ?? []) {
      for (const entry of store?.list(client) ?? []) {
        archiveBytes.set(client, (archiveBytes.get(client) ?? 0) + entry.size);
        const key = `${client}/${entry.name}`;
        const seen = latest.get(key);
        if (!seen || entry.storedAt > seen.storedAt) latest.set(key, entry);
      }
    }
    const trash = config ? trashUsage(config.server.storage) : { bytes: 0, items: 0, byClient: new Map<string, number>() };
    const archivesTotal = [...archiveBytes.values()].reduce((n, b) => n + b, 0);
    return {
      latest: [...latest.values()].map((e) => ({ client: e.client, name: e.name, storedAtMs: Date.parse(e.storedAt), size: e.size })),
      trashBytes: trash.bytes,
      trashItems: trash.items,
      usedBytes: archivesTotal + trash.bytes,
      freeBytes: config ? freeBytes(config.server.storage) : null,
      held: (store?.holds() ?? []).map((h) => ({ client: h.client, name: h.name })),
      ...(store && config ? { space: spaceSnapshot(store, config, archiveBytes, trash.byClient) } : {}),
      ...(store ? { scrub: scrubSnapshot(store) } : {}),
      // the file the purge's listing wrote: a scrape never lists the bucket
      ...(config?.server.bucket ? { bucket: { url: config.server.bucket.url, usage: readBucketUsage(config.server.storage) } } : {}),
    };
  }

  private statusLine(): string {
    const config = this.config;
    return serverStatusLine(
      {
        clients: config?.server.clients.length ?? 0,
        connected: this.metrics.activeSessions,
        waiting: this.running?.admissionCounts().waiting ?? 0,
        lastArchive: this.activity?.lastArchive ?? null,
        freeBytes: config ? freeBytes(config.server.storage) : null,
      },
      this.now(),
    );
  }

  private refreshStatus(): void {
    if (this.running) this.notifier.status(this.statusLine());
  }

  private save(): void {
    if (!this.config || !this.activity) return;
    const text = JSON.stringify(this.activity, null, 2) + "\n";
    const storage = this.config.server.storage;
    this.writing = this.writing
      .then(() => writeFileAtomic(path.join(serverStateDir(storage), ACTIVITY_FILE), text, 0o640))
      .catch((err: Error) => this.log.log("warn", `cannot write ${ACTIVITY_FILE} under ${storage}: ${err.message}`));
  }
}

/** The store's space report, with each client's use of its quota (archives from the index, trash from its folder, staging). */
function spaceSnapshot(store: Store, config: ServerConfig, archives: Map<string, number>, trash: Map<string, number>): SpaceSnapshot {
  const report = store.spaceReport();
  const staging = [...report.staging.entries()].map(([client, s]) => ({ client, ...s }));
  const stagingOf = (client: string) => staging.filter((s) => s.client === client).reduce((n, s) => n + s.poolBytes + s.uploadBytes, 0);
  const quotas = config.server.clients.flatMap(({ name, quotaBytes }) =>
    quotaBytes === null
      ? []
      : [{ client: name, quotaBytes, usedBytes: (archives.get(name) ?? 0) + (trash.get(name) ?? 0) + stagingOf(name) }],
  );
  return { minFreeBytes: report.minFreeBytes, staging, releasedBytes: report.releasedBytes, refusals: report.refusals, quotas };
}

/** The scheduled scrub's totals and the archives known damaged that are still stored. */
function scrubSnapshot(store: Store): ScrubSnapshot {
  const state = store.scrub.current;
  const damaged = store.damage.all().filter((d) => store.list(d.client).some((e) => e.file === d.file));
  return {
    bytesRead: state?.bytesRead ?? 0,
    archivesRead: state?.archivesRead ?? 0,
    lastStepMs: state?.lastStepMs ?? 0,
    damaged: damaged.map(({ client, name, file }) => ({ client, name, file })),
  };
}

function metricsAddress(config: ServerConfig): string | null {
  const m = config.server.metrics;
  return m ? `${m.host.includes(":") ? `[${m.host}]` : m.host}:${m.port}` : null;
}

/** The most recently stored archive over every configured client, from the index. */
function newestArchive(config: ServerConfig, store: Store): ServerActivityRecord["lastArchive"] {
  let best: IndexEntry | null = null;
  for (const { name } of config.server.clients) {
    for (const entry of store.list(name)) if (!best || entry.storedAt > best.storedAt) best = entry;
  }
  return best ? { client: best.client, name: best.name, file: best.file, storedAt: best.storedAt } : null;
}
