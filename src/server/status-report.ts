// The server's part of `hashrelay status`: who it has seen, what its storage holds (archives, trash, holds), read only.
import fs from "node:fs";
import path from "node:path";
import { parseArchiveFileName } from "../archive/naming.ts";
import { formatDuration, formatSize } from "../config/units.ts";
import { daemonInfo, daemonLine, type DaemonInfo } from "../daemon/daemon-status.ts";
import { formatAge, when } from "../daemon/status-line.ts";
import type { ServerConfig } from "../io/config-file.ts";
import { readSharingState, type SharingState } from "../store/block-sharing.ts";
import { readBucketUsage, type BucketUsage } from "../store/bucket-usage.ts";
import { readHolds, type Hold } from "../store/holds.ts";
import { StoreLayout, TRASH_DIR } from "../store/layout.ts";
import { isTrashItemName, readSidecar } from "../store/trash.ts";
import { freeBytes, readServerActivity, type ServerActivityRecord } from "./service.ts";
import { scrubLines, scrubStatus, type ScrubStatus } from "./scrub-status.ts";
import { quotaLine, stagingLines, stagingStatus, type QuotaStatus, type StagingStatus } from "./space-status.ts";

export interface ServerArchiveStatus {
  name: string;
  file: string;
  size: number;
  /**
   * When the server stored the archive (its file's mtime, which the index records as storedAt), and
   * its age when the report was made. Never the time in the file name: the client chooses that name.
   */
  storedAt: string;
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
  /** What it takes of its quota (server.clients[].quota), or null without one. */
  quota: QuotaStatus | null;
}

export interface TrashStatus {
  client: string;
  item: string;
  size: number;
  trashedAt: string | null;
  purgeAt: string | null;
}

export interface ServerStatus {
  /** The storage folder: on an S3 storage, the bucket's cache (usedBytes, freeBytes and minFreeBytes are the cache's). */
  storage: string;
  /** On an S3 storage: its URL and what the server's last listing found (null before the first; bucket-usage.ts). */
  bucket?: { url: string; usage: BucketUsage | null };
  usedBytes: number;
  freeBytes: number | null;
  /** server.minFree: what the disk keeps free (uploads that would take it are refused NO_SPACE). */
  minFreeBytes: number;
  daemon: DaemonInfo;
  clients: ServerClientStatus[];
  trash: TrashStatus[];
  trashBytes: number;
  trashFor: string;
  /** Chunks of unfinished uploads, per client (.hashrelay/staging). */
  staging: StagingStatus[];
  /** Names whose last good archive is held out of retention (suspect replacements), and hold files that cannot be read. */
  holds: Hold[];
  unreadableHolds: string[];
  /** Whether the server clones unchanged runs into new archives (as its last start found), or null before any start. */
  sharing: SharingState | null;
  /** The scheduled scrub (server.scrub) and the archives known damaged. */
  scrub: ScrubStatus;
}

/** What the storage and the daemon's activity file say; reads only (never creates a folder or file). */
export async function serverStatus(config: ServerConfig, now: Date): Promise<ServerStatus> {
  const { server } = config;
  const activity = readServerActivity(server.storage);
  const stored = server.clients.map(({ name }) => clientStatus(server.storage, name, activity, now));
  const layout = new StoreLayout(server.storage);
  const trash = await trashStatus(layout, server.storage, server.retention.trashForMs);
  const trashBytes = trash.reduce((n, t) => n + t.size, 0);
  const staging = stagingStatus(server.storage);
  for (const [i, { quotaBytes }] of server.clients.entries()) {
    if (quotaBytes === null) continue;
    const client = stored[i]!.status.name;
    const archives = stored[i]!.bytes;
    const trashed = trash.filter((t) => t.client === client).reduce((n, t) => n + t.size, 0);
    const staged = staging.find((s) => s.client === client)?.bytes ?? 0;
    stored[i]!.status.quota = { quotaBytes, usedBytes: archives + trashed + staged, archives, trash: trashed, staging: staged };
  }
  const holds: Hold[] = [];
  const unreadableHolds: string[] = [];
  for (const found of await readHolds(layout).catch(() => [])) {
    if ("problem" in found) unreadableHolds.push(`${found.path}: ${found.problem}`);
    else holds.push(found);
  }
  return {
    storage: server.storage,
    ...(server.bucket ? { bucket: { url: server.bucket.url, usage: readBucketUsage(server.storage) } } : {}),
    usedBytes: stored.reduce((n, s) => n + s.bytes, 0) + trashBytes,
    freeBytes: freeBytes(server.storage),
    minFreeBytes: server.minFreeBytes,
    daemon: daemonInfo(activity, config.hash),
    clients: stored.map((s) => s.status),
    trash,
    trashBytes,
    trashFor: formatDuration(server.retention.trashForMs),
    staging,
    holds,
    unreadableHolds,
    sharing: await readSharingState(layout),
    scrub: await scrubStatus(layout, server.scrubCycleMs, storedFiles(server.storage, server.clients), now),
  };
}

/** One client: when it was last seen, and the last stored archive of each name in <storage>/<client> (with the bytes they all take). */
function clientStatus(
  storage: string,
  client: string,
  activity: ServerActivityRecord | null,
  now: Date,
): { status: ServerClientStatus; bytes: number } {
  let bytes = 0;
  const byName = new Map<string, { file: string; size: number; storedAtMs: number; kept: number }>();
  for (const file of readdirOrEmpty(path.join(storage, client))) {
    const parsed = parseArchiveFileName(file);
    const st = parsed ? fs.statSync(path.join(storage, client, file), { throwIfNoEntry: false }) : undefined;
    if (!parsed || !st?.isFile()) continue;
    bytes += st.size;
    const seen = byName.get(parsed.name);
    if (!seen || st.mtimeMs > seen.storedAtMs)
      byName.set(parsed.name, { file, size: st.size, storedAtMs: st.mtimeMs, kept: (seen?.kept ?? 0) + 1 });
    else seen.kept++;
  }
  const seen = activity?.clients[client];
  const archives = [...byName.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, a]) => ({
      name,
      file: a.file,
      size: a.size,
      storedAt: new Date(a.storedAtMs).toISOString(),
      ageSeconds: Math.max(0, Math.round((now.getTime() - a.storedAtMs) / 1000)),
      kept: a.kept,
    }));
  return {
    status: {
      name: client,
      lastSeen: seen?.lastSeen ?? null,
      from: seen?.from ?? null,
      sessions: seen?.sessions ?? 0,
      archives,
      quota: null,
    },
    bytes,
  };
}

/** Every item in <storage>/.trash with when it is purged (null when its trash time was not recorded), soonest first. */
async function trashStatus(layout: StoreLayout, storage: string, trashForMs: number): Promise<TrashStatus[]> {
  const trash: TrashStatus[] = [];
  for (const client of readdirOrEmpty(path.join(storage, TRASH_DIR))) {
    for (const item of readdirOrEmpty(path.join(storage, TRASH_DIR, client))) {
      if (!isTrashItemName(item)) continue;
      const st = fs.lstatSync(path.join(storage, TRASH_DIR, client, item), { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      const trashedAtMs = await readSidecar(layout, client, item).catch(() => null);
      trash.push({
        client,
        item,
        size: st.size,
        trashedAt: trashedAtMs === null ? null : new Date(trashedAtMs).toISOString(),
        purgeAt: trashedAtMs === null ? null : new Date(trashedAtMs + trashForMs).toISOString(),
      });
    }
  }
  return trash.sort((a, b) => (a.purgeAt ?? "").localeCompare(b.purgeAt ?? "") || a.item.localeCompare(b.item));
}

/** "client/file" of every archive under its final name. */
function storedFiles(storage: string, clients: readonly { name: string }[]): Set<string> {
  return new Set(
    clients.flatMap(({ name }) =>
      readdirOrEmpty(path.join(storage, name)).flatMap((f) => (parseArchiveFileName(f) ? [`${name}/${f}`] : [])),
    ),
  );
}

/** The folder's entries, sorted; none when it cannot be read (status shows what it can). */
function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** The report as the terminal shows it; `config` is the file on disk (its path and hash). */
export function serverStatusLines(s: ServerStatus, config: { file: string; hash: string }, now: Date): string[] {
  const free = `${s.freeBytes === null ? "free space unknown" : `${formatSize(s.freeBytes)} free`} (keeps ${formatSize(s.minFreeBytes)})`;
  const storage = s.bucket ? `storage ${s.bucket.url}, cache ${s.storage}` : `storage ${s.storage}`;
  const lines = [
    `HashRelay server — ${storage}: ${formatSize(s.usedBytes)} used, ${free} — config ${config.file} (sha256 ${config.hash.slice(0, 16)})`,
    ...(s.bucket ? bucketLines(s.bucket.url, s.bucket.usage, now) : []),
    daemonLine(s.daemon, "HashRelay.server", now),
    ...sharingLines(s.sharing),
    "Clients:",
  ];
  for (const client of s.clients) {
    lines.push(
      `  ${client.name.padEnd(16)} ${client.lastSeen ? `last seen ${when(client.lastSeen, now)} from ${client.from} (${client.sessions} sessions)` : "never seen"}`,
    );
    if (client.quota) lines.push(`    ${quotaLine(client.quota)}`);
    for (const a of client.archives)
      lines.push(
        `    ${a.name.padEnd(14)} ${a.file}  ${formatSize(a.size)}, stored ${formatAge(a.ageSeconds)} ago${a.kept > 1 ? ` (${a.kept} kept)` : ""}`,
      );
  }
  lines.push(
    s.trash.length === 0
      ? `Trash: empty (superseded archives wait ${s.trashFor})`
      : `Trash: ${s.trash.length} item(s), ${formatSize(s.trashBytes)} (purged ${s.trashFor} after they were superseded)`,
  );
  for (const t of s.trash)
    lines.push(
      `  ${t.client}/${t.item}  ${formatSize(t.size)}, purged ${t.purgeAt ? when(t.purgeAt, now) : "at the next purge (no trash time recorded)"}`,
    );
  lines.push(...stagingLines(s.staging, now));
  lines.push(...holdLines(s.holds, s.unreadableHolds, now));
  lines.push(...scrubLines(s.scrub, now));
  return lines;
}

/** The bucket of an S3 storage as the server last listed it (at start and every minute), and its last error. */
function bucketLines(url: string, usage: BucketUsage | null, now: Date): string[] {
  if (!usage) return [`Bucket ${url}: not listed yet (the running server lists it at start and every minute)`];
  const listed = usage.listedAt ? `as listed ${when(usage.listedAt, now)}` : "never listed";
  const counts = `${usage.liveObjects} live archive(s), ${formatSize(usage.liveBytes)}; trash ${usage.trashObjects} object(s), ${formatSize(usage.trashBytes)}`;
  const lines = [`Bucket ${url} at ${usage.endpoint}: ${usage.reachable ? "reachable" : "UNREACHABLE"}; ${counts} (${listed})`];
  if (usage.lastError && usage.lastErrorAt) lines.push(`  last error ${when(usage.lastErrorAt, now)}: ${usage.lastError}`);
  return lines;
}

/** How new archives are written: cloning unchanged runs, or copying whole (and why); nothing before the server's first start. */
function sharingLines(sharing: SharingState | null): string[] {
  if (!sharing) return [];
  if (sharing.cloning)
    return ["Archives: unchanged runs are cloned (the file system shares blocks: a backup and the trash cost what changed)"];
  return [
    `Archives: copied whole at each backup: this file system cannot clone (${sharing.reason ?? "unknown"}); XFS (reflink=1), btrfs or ZFS 2.2+ write only what changed`,
  ];
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
