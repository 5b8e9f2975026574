// What changed between the config in force and a new one: per part, and as one readable line per change.
import { DEFAULT_SUSPECT } from "./build-config.ts";
import { formatDuration, formatSize } from "./units.ts";
import type { ClientConfig, Config, ServerConfig, SourceConfig } from "./model.ts";

export interface SourceRename {
  from: string;
  to: string;
  path: string;
}

export interface ClientDiff {
  /** Sources whose name is new and whose path was not listed under another name. */
  added: SourceConfig[];
  /** Sources whose name is gone (their archives stay on the server). */
  removed: SourceConfig[];
  /** Same path, new name: later archives carry the new name; the old ones stay under the old name. */
  renamed: SourceRename[];
  /** Names whose path or exclude list changed. */
  changed: string[];
  name: boolean;
  server: boolean;
  serverKey: boolean;
  key: boolean;
  /** When ticks fall: client.schedule, client.timezone or client.splay. */
  schedule: boolean;
  state: boolean;
}

export interface ServerDiff {
  clientsAdded: string[];
  clientsRemoved: string[];
  /** Same name, new public key: sessions opened with the old key end like a removed client's. */
  clientsRekeyed: string[];
  /** Clients listed before and after whose quota changed (it applies to their next request for room). */
  clientsRequota: string[];
  /** listen address or port. */
  listen: boolean;
  key: boolean;
  storage: boolean;
  minFree: boolean;
  scrub: boolean;
  retention: boolean;
  limits: boolean;
  /** server.metrics address (added, removed or moved). */
  metrics: boolean;
}

export interface ConfigDiff {
  /** True when nothing the agents use differs (the text may still differ: comments, order, spacing). */
  empty: boolean;
  /** One line per change, e.g. `client.paths: added www (/var/www)`; ["first config"] when prev is null. */
  changes: string[];
  /** Present when either config has a client section. */
  client?: ClientDiff;
  /** Present when either config has a server section. */
  server?: ServerDiff;
}

/**
 * Compares `prev` (null at start-up: a reload from nothing) with `next`. Pure; never throws.
 * A section present on one side only counts as all added or all removed.
 */
export function diffConfig(prev: Config | null, next: Config): ConfigDiff {
  const changes: string[] = [];
  const diff: ConfigDiff = { empty: false, changes };
  if (prev?.client || next.client) diff.client = diffClient(prev?.client, next.client, changes);
  if (prev?.server || next.server) diff.server = diffServer(prev, next, changes);
  if (!prev) {
    diff.changes = ["first config"];
    return diff;
  }
  diff.empty = changes.length === 0;
  return diff;
}

function diffClient(prev: ClientConfig | undefined, next: ClientConfig | undefined, changes: string[]): ClientDiff {
  const before = new Map((prev?.paths ?? []).map((s) => [s.name, s]));
  const after = new Map((next?.paths ?? []).map((s) => [s.name, s]));
  const diff: ClientDiff = {
    added: [],
    removed: [],
    renamed: [],
    changed: [],
    name: prev?.name !== next?.name,
    server: hostPort(prev?.server) !== hostPort(next?.server),
    serverKey: prev?.serverKeyText !== next?.serverKeyText,
    key: prev?.key !== next?.key,
    schedule: prev?.scheduleText !== next?.scheduleText || prev?.timezone !== next?.timezone || prev?.splayMs !== next?.splayMs,
    state: prev?.state !== next?.state,
  };
  for (const [name, source] of after) {
    const old = before.get(name);
    if (!old) continue;
    const what: string[] = [];
    if (old.path !== source.path) what.push(`path ${old.path} → ${source.path}`);
    if (JSON.stringify(old.exclude) !== JSON.stringify(source.exclude))
      what.push(`exclude ${JSON.stringify(old.exclude)} → ${JSON.stringify(source.exclude)}`);
    if (what.length > 0) {
      diff.changed.push(name);
      changes.push(`client.paths: ${name}: ${what.join(", ")}`);
    }
  }
  const gone = [...before.values()].filter((s) => !after.has(s.name));
  const fresh = [...after.values()].filter((s) => !before.has(s.name));
  for (const old of gone) {
    const renamed = fresh.find((s) => s.path === old.path && !diff.renamed.some((r) => r.to === s.name));
    if (renamed) {
      diff.renamed.push({ from: old.name, to: renamed.name, path: old.path });
      changes.push(`client.paths: renamed ${old.name} → ${renamed.name} (${old.path}); archives named ${old.name} stay on the server`);
    } else {
      diff.removed.push(old);
      changes.push(`client.paths: removed ${old.name} (${old.path}); its archives stay on the server`);
    }
  }
  for (const source of fresh) {
    if (diff.renamed.some((r) => r.to === source.name)) continue;
    diff.added.push(source);
    changes.push(`client.paths: added ${source.name} (${source.path})`);
  }
  if (diff.name) changes.push(`client.name: ${prev?.name ?? "none"} → ${next?.name ?? "none"}`);
  if (diff.server) changes.push(`client.server: ${hostPort(prev?.server)} → ${hostPort(next?.server)}`);
  if (diff.serverKey) changes.push(`client.serverKey: ${prev?.serverKeyText ?? "none"} → ${next?.serverKeyText ?? "none"}`);
  if (diff.key) changes.push(`client.key: ${prev?.key ?? "none"} → ${next?.key ?? "none"}`);
  if (prev?.scheduleText !== next?.scheduleText)
    changes.push(`client.schedule: ${prev?.scheduleText ?? "none"} → ${next?.scheduleText ?? "none"}`);
  // A client section added or removed is said by the schedule line alone.
  if (prev && next && prev.timezone !== next.timezone)
    changes.push(`client.timezone: ${prev.timezone ?? "the machine's zone"} → ${next.timezone ?? "the machine's zone"}`);
  if (prev && next && prev.splayMs !== next.splayMs)
    changes.push(`client.splay: ${formatDuration(prev.splayMs)} → ${formatDuration(next.splayMs)}`);
  if (prev && next && prev.busyWindowMs !== next.busyWindowMs) {
    const window = (ms: number | null) => (ms === null ? "until the next tick" : formatDuration(ms));
    changes.push(`client.busyWindow: ${window(prev.busyWindowMs)} → ${window(next.busyWindowMs)}`);
  }
  if (diff.state) changes.push(`client.state: ${prev?.state ?? "none"} → ${next?.state ?? "none"}`);
  return diff;
}

function diffServer(prevConfig: Config | null, nextConfig: Config, changes: string[]): ServerDiff {
  const prev = prevConfig?.server;
  const next = nextConfig.server;
  const before = new Map((prev?.clients ?? []).map((c) => [c.name, c.keyText]));
  const after = new Map((next?.clients ?? []).map((c) => [c.name, c.keyText]));
  const quotaBefore = new Map((prev?.clients ?? []).map((c) => [c.name, c.quotaBytes]));
  const quotaAfter = new Map((next?.clients ?? []).map((c) => [c.name, c.quotaBytes]));
  const listenBefore = prev ? `${bracket(prev.listen)}:${prevConfig!.port}` : "none";
  const listenAfter = next ? `${bracket(next.listen)}:${nextConfig.port}` : "none";
  const diff: ServerDiff = {
    clientsAdded: [...after.keys()].filter((n) => !before.has(n)),
    clientsRemoved: [...before.keys()].filter((n) => !after.has(n)),
    clientsRekeyed: [...after.keys()].filter((n) => before.has(n) && before.get(n) !== after.get(n)),
    clientsRequota: [...quotaAfter.keys()].filter((n) => quotaBefore.has(n) && quotaBefore.get(n) !== quotaAfter.get(n)),
    listen: listenBefore !== listenAfter,
    key: prev?.key !== next?.key,
    storage: prev?.storage !== next?.storage || bucketText(prev) !== bucketText(next),
    minFree: prev?.minFreeBytes !== next?.minFreeBytes,
    scrub: prev?.scrubCycleMs !== next?.scrubCycleMs,
    retention: retentionText(prev) !== retentionText(next),
    limits: limitsText(prev) !== limitsText(next),
    metrics: metricsText(prev) !== metricsText(next),
  };
  for (const name of diff.clientsAdded) changes.push(`server.clients: added ${name}`);
  for (const name of diff.clientsRemoved) changes.push(`server.clients: removed ${name}; its open sessions end, its archives stay`);
  for (const name of diff.clientsRekeyed) changes.push(`server.clients: ${name}: key changed; sessions opened with the old key end`);
  const quotaText = (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? "none" : formatSize(bytes));
  for (const name of diff.clientsRequota)
    changes.push(`server.clients: ${name}: quota ${quotaText(quotaBefore.get(name))} → ${quotaText(quotaAfter.get(name))}`);
  if (diff.listen) changes.push(`server.listen: ${listenBefore} → ${listenAfter}`);
  if (diff.key) changes.push(`server.key: ${prev?.key ?? "none"} → ${next?.key ?? "none"}`);
  if (diff.storage) changes.push(`server.storage: ${storageText(prev)} → ${storageText(next)}`);
  if (diff.minFree) changes.push(`server.minFree: ${prev?.minFreeBytes ?? "none"} → ${next?.minFreeBytes ?? "none"} bytes`);
  if (diff.scrub) changes.push(`server.scrub: ${scrubText(prev)} → ${scrubText(next)}`);
  if (diff.retention) changes.push(`server.retention: ${retentionText(prev)} → ${retentionText(next)}`);
  if (diff.limits) changes.push(`server.limits: ${limitsText(prev)} → ${limitsText(next)}`);
  if (diff.metrics) changes.push(`server.metrics: ${metricsText(prev)} → ${metricsText(next)}`);
  return diff;
}

/** server.storage as the admin wrote it: the folder, or the bucket URL with its cache. */
function storageText(server: ServerConfig | undefined): string {
  if (!server) return "none";
  return server.bucket ? `${server.bucket.url} (cache ${server.storage})` : server.storage;
}

/** Everything that says which bucket, where, as whom: any change is a move of the storage. */
function bucketText(server: ServerConfig | undefined): string {
  return JSON.stringify(server?.bucket ?? null);
}

function scrubText(server: ServerConfig | undefined): string {
  if (!server) return "none";
  return server.scrubCycleMs === null ? "off" : formatDuration(server.scrubCycleMs);
}

function hostPort(server: ClientConfig["server"] | undefined): string {
  return server ? `${bracket(server.host)}:${server.port}` : "none";
}

function bracket(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function retentionText(server: ServerConfig | undefined): string {
  if (!server) return "none";
  const { keep, trashForMs, suspect: s } = server.retention;
  const guard = `suspect maxShared ${s.maxShared} ratioJump ${s.ratioJump} minRatio ${s.minRatio} releaseAfter ${s.releaseAfter}`;
  return `keep ${keep}, trashFor ${formatDuration(trashForMs)}${JSON.stringify(s) === JSON.stringify(DEFAULT_SUSPECT) ? "" : `, ${guard}`}`;
}

function metricsText(server: ServerConfig | undefined): string {
  return server?.metrics ? `${bracket(server.metrics.host)}:${server.metrics.port}` : "none";
}

function limitsText(server: ServerConfig | undefined): string {
  if (!server) return "none";
  const { maxConnections, handshakeTimeoutMs, idleTimeoutMs, streams } = server.limits;
  return `maxConnections ${maxConnections}, handshakeTimeout ${formatDuration(handshakeTimeoutMs)}, idleTimeout ${formatDuration(idleTimeoutMs)}, streams ${streams ?? "one per core"}`;
}
