// The space part of the server's `hashrelay status`: staging left by unfinished uploads, and what each client takes of its quota.
import fs from "node:fs";
import path from "node:path";
import { formatDuration, formatSize } from "../config/units.ts";
import { when } from "../daemon/status-line.ts";
import { STAGING_FILE, STAGING_STALE_MS } from "../store/staging-pool.ts";
import { StoreLayout } from "../store/layout.ts";

/** A client's staging files on disk: chunks of its uploads that ended unstored (or are in progress). */
export interface StagingStatus {
  client: string;
  bytes: number;
  files: number;
  /** The last write of its oldest file: the first to be released when an upload needs room. */
  oldestWriteAt: string;
}

/** What a client with a quota takes: archives, trash and staging, against server.clients[].quota. */
export interface QuotaStatus {
  quotaBytes: number;
  usedBytes: number;
  archives: number;
  trash: number;
  staging: number;
}

/** Every client's staging under <storage>/.hashrelay/staging, by client name; read only, never throws. */
export function stagingStatus(storage: string): StagingStatus[] {
  const layout = new StoreLayout(storage);
  const out: StagingStatus[] = [];
  for (const client of readdirOrEmpty(layout.stagingRoot())) {
    let bytes = 0;
    let files = 0;
    let oldest = Infinity;
    for (const item of readdirOrEmpty(path.join(layout.stagingRoot(), client))) {
      const st = STAGING_FILE.test(item)
        ? fs.lstatSync(path.join(layout.stagingRoot(), client, item), { throwIfNoEntry: false })
        : undefined;
      if (!st?.isFile()) continue;
      bytes += st.size;
      files++;
      oldest = Math.min(oldest, st.mtimeMs);
    }
    if (files > 0) out.push({ client, bytes, files, oldestWriteAt: new Date(oldest).toISOString() });
  }
  return out;
}

/** The staging lines of `hashrelay status`: a summary of what waits, then one line per client. */
export function stagingLines(staging: readonly StagingStatus[], now: Date): string[] {
  if (staging.length === 0) return ["Staging: empty (no unfinished upload left chunks)"];
  const bytes = staging.reduce((n, s) => n + s.bytes, 0);
  const files = staging.reduce((n, s) => n + s.files, 0);
  const lines = [
    `Staging: ${files} file(s), ${formatSize(bytes)} from unfinished uploads (reused by the client's next upload; released oldest first when an upload needs the room, dropped after ${formatDuration(STAGING_STALE_MS)} unwritten)`,
  ];
  for (const s of staging)
    lines.push(`  ${s.client.padEnd(16)} ${s.files} file(s), ${formatSize(s.bytes)}, oldest last written ${when(s.oldestWriteAt, now)}`);
  return lines;
}

/** "quota 50 GiB: 12 GiB used (archives …, trash …, staging …)", for the client's block of `hashrelay status`. */
export function quotaLine(q: QuotaStatus): string {
  const share = q.quotaBytes > 0 ? ` (${Math.round((q.usedBytes / q.quotaBytes) * 100)}%)` : "";
  return `quota ${formatSize(q.quotaBytes)}: ${formatSize(q.usedBytes)} used${share}: archives ${formatSize(q.archives)}, trash ${formatSize(q.trash)}, staging ${formatSize(q.staging)}`;
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}
