// What `hashrelay server verify` does: scrub every stored and trashed archive, name what is damaged.
import { EXIT, HashRelayError, asHashRelayError } from "../errors.ts";
import { parseArchiveFileName } from "../archive/naming.ts";
import { scanArchive } from "../store/archive-file.ts";
import { StoreLayout, readdirOrEmpty } from "../store/layout.ts";
import { isTrashItemName } from "../store/trash.ts";
import { Store, type DamagedMember, type ScrubReport } from "../store/store.ts";
import { connectBucket, type BucketArchives } from "../store/bucket-archives.ts";
import { liveObjects, objectUrl, scanBucketTrash } from "../store/bucket-verify.ts";
import { loadConfig, requireServer } from "../io/config-file.ts";

/** What the scrub found for one file. */
export interface ScrubLine {
  client: string;
  file: string;
  trash: boolean;
  ok: boolean;
  members: number;
  size: number;
  damaged: DamagedMember[];
  /** Why the file is damaged when no member can be named (wrong size, not a sequence of our members). */
  problem?: string;
  /** On an S3 storage, the object's URL when this line is about the bucket's copy, not the cache's. */
  bucket?: string;
}

/**
 * Stored archives are checked member by member against the index (Store.verifyArchive). A file the
 * store could not index (it refused it when opening) and every trashed item are scanned: each member
 * must inflate with its CRC and length (trash keeps no index, so no chunk ids to compare). On an S3
 * storage (`bucket`) every live object of each client is checked too (bucket-verify.ts): an indexed
 * archive's against the index as its cached file, any other against its signed record; and every
 * object in the bucket's trash is scanned as a trashed file is.
 */
export async function scrubStorage(store: Store, layout: StoreLayout, clients: string[], bucket?: BucketArchives): Promise<ScrubLine[]> {
  const lines: ScrubLine[] = [];
  for (const client of clients) {
    const indexed = new Set(store.list(client).map((e) => e.file));
    for (const file of (await readdirOrEmpty(layout.clientDir(client))).sort()) {
      if (!parseArchiveFileName(file)) continue;
      if (indexed.has(file)) {
        const report = await store.verifyArchive(client, file);
        lines.push(reportLine(report));
        if (bucket && report.inBucket) lines.push(reportLine(report.inBucket, objectUrl(bucket, client, file)));
      } else {
        lines.push(await scanLine(client, file, layout.archivePath(client, file), false));
      }
    }
    for (const object of bucket ? await liveObjects(bucket, client) : []) {
      if (indexed.has(object.file)) continue;
      lines.push(reportLine(await store.verifyArchive(client, object.file), objectUrl(bucket!, client, object.file)));
    }
    for (const item of (await readdirOrEmpty(layout.trashDir(client))).sort()) {
      if (!isTrashItemName(item)) continue;
      lines.push(await scanLine(client, item, layout.trashPath(client, item), true));
    }
    for (const t of bucket ? await scanBucketTrash(bucket, client) : []) {
      const { file, url, size, members, problem } = t;
      lines.push({ client, file, trash: true, ok: !problem, members, size, damaged: [], ...(problem ? { problem } : {}), bucket: url });
    }
  }
  return lines;
}

/** The line of a stored archive's scrub report (of its object in the bucket at `bucket`, when given). */
function reportLine(report: ScrubReport, bucket?: string): ScrubLine {
  const { client, file, ok, members, size, damaged, problem } = report;
  return { client, file, trash: false, ok, members, size, damaged, ...(problem ? { problem } : {}), ...(bucket ? { bucket } : {}) };
}

async function scanLine(client: string, file: string, path: string, trash: boolean): Promise<ScrubLine> {
  try {
    const scanned = await scanArchive(path, false);
    return { client, file, trash, ok: true, members: scanned.count, size: scanned.size, damaged: [] };
  } catch (err) {
    return { client, file, trash, ok: false, members: 0, size: 0, damaged: [], problem: asHashRelayError(err, "STORAGE").message };
  }
}

function describeLine(line: ScrubLine): string {
  const where = line.bucket ?? `${line.trash ? ".trash/" : ""}${line.client}/${line.file}`;
  if (line.ok) return `ok       ${where}  ${line.members} members, ${line.size} bytes${line.trash ? " (trash: members inflate)" : ""}`;
  const parts = line.damaged.map((d) => `member ${d.index} at byte ${d.offset} (chunk ${d.chunkId}): ${d.reason}`);
  if (line.problem) parts.push(line.problem);
  return `DAMAGED  ${where}\n${parts.map((p) => `         ${p}`).join("\n")}`;
}

/** Exit 0 when every archive is intact, 1 when any is damaged; throws USAGE or CONFIG (2) on a bad config or --client. */
export async function serverVerify(request: { configFile: string; client: string | undefined; json: boolean }): Promise<number> {
  const config = requireServer(loadConfig(request.configFile));
  const known = config.server.clients.map((c) => c.name);
  const only = request.client;
  if (only !== undefined && !known.includes(only))
    throw new HashRelayError("USAGE", `--client ${only} is not in server.clients`, `known: ${known.join(", ")}`);
  // on an S3 storage the bucket is what is stored: unreachable, it is an error (exit 2), as at the server's start
  const bucket = config.server.bucket && (await connectBucket(config.server.bucket, process.env));
  const store = await Store.open(config.server.storage, bucket ? { bucket } : {});
  let lines: ScrubLine[];
  try {
    lines = await scrubStorage(store, new StoreLayout(config.server.storage), only ? [only] : known, bucket || undefined);
  } finally {
    await store.close();
  }
  const damaged = lines.filter((l) => !l.ok).length;
  if (request.json) {
    process.stdout.write(JSON.stringify({ ok: damaged === 0, checked: lines.length, damaged, archives: lines }) + "\n");
  } else {
    process.stdout.write([...lines.map(describeLine), `${lines.length} archives checked, ${damaged} damaged`].join("\n") + "\n");
  }
  return damaged === 0 ? EXIT.OK : EXIT.SOURCE_FAILED;
}
