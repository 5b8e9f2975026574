// What `hashrelay server verify` does: scrub every stored and trashed archive, name what is damaged.
import { EXIT, HashRelayError, asHashRelayError } from "../errors.ts";
import { parseArchiveFileName } from "../archive/naming.ts";
import { scanArchive } from "../store/archive-file.ts";
import { StoreLayout, readdirOrEmpty } from "../store/layout.ts";
import { isTrashItemName } from "../store/trash.ts";
import { Store, type DamagedMember } from "../store/store.ts";
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
}

/**
 * Stored archives are checked member by member against the index (Store.verifyArchive). A file the
 * store could not index (it refused it when opening) and every trashed item are scanned: each member
 * must inflate with its CRC and length (trash keeps no index, so no chunk ids to compare).
 */
export async function scrubStorage(store: Store, layout: StoreLayout, clients: string[]): Promise<ScrubLine[]> {
  const lines: ScrubLine[] = [];
  for (const client of clients) {
    const indexed = new Set(store.list(client).map((e) => e.file));
    for (const file of (await readdirOrEmpty(layout.clientDir(client))).sort()) {
      if (!parseArchiveFileName(file)) continue;
      if (indexed.has(file)) {
        const report = await store.verifyArchive(client, file);
        const problem = report.size === report.expectedSize ? undefined : `size ${report.size} bytes, ${report.expectedSize} when stored`;
        lines.push({
          client,
          file,
          trash: false,
          ok: report.ok,
          members: report.members,
          size: report.size,
          damaged: report.damaged,
          ...(problem ? { problem } : {}),
        });
      } else {
        lines.push(await scanLine(client, file, layout.archivePath(client, file), false));
      }
    }
    for (const item of (await readdirOrEmpty(layout.trashDir(client))).sort()) {
      if (!isTrashItemName(item)) continue;
      lines.push(await scanLine(client, item, layout.trashPath(client, item), true));
    }
  }
  return lines;
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
  const where = `${line.trash ? ".trash/" : ""}${line.client}/${line.file}`;
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
  const store = await Store.open(config.server.storage);
  let lines: ScrubLine[];
  try {
    lines = await scrubStorage(store, new StoreLayout(config.server.storage), only ? [only] : known);
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
