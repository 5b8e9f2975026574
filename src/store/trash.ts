// The trash: superseded archives wait in <root>/.trash/<client>/ until purged.
import type { FileDigest } from "../protocol/file-digest.ts";
//
// Trash time is recorded in a sidecar beside each trashed file: `<item>.trashed`, JSON
// {"trashedAt": ISO time, "from": "<client>/<file>"}, written atomically right AFTER the durable
// rename into the trash. It lives in .trash (not in the derived .hashrelay folder) so it survives
// restarts and a deleted index. A crash between the rename and the sidecar leaves an item with no
// sidecar: it is then given one dated "now" the next time the store opens or purges, so it waits a
// full trashFor again (late, never early). An item is the archive's file name, or that name plus
// ".N" when the trash already has an item of that name. The archive's signed record (signed-record.ts)
// follows it from .signed as `<item>.signed.json` and is purged with it.
import { lstat, mkdir, readFile, unlink } from "node:fs/promises";
import { fsyncDir, renameDurable, writeFileAtomic } from "../io/atomic-file.ts";
import { SIGNED_SUFFIX, StoreLayout, checkClient, pathExists, readdirOrEmpty } from "./layout.ts";
import { withRecordIntoTrash } from "./signed-record.ts";
import type { StoreLog } from "./store-log.ts";

const SIDECAR = ".trashed";
/** Temp files left by writeFileAtomic: ".<name>.<12 hex>.tmp". */
const ATOMIC_TEMP = /^\..+\.[0-9a-f]{12}\.tmp$/;

export interface TrashItem {
  client: string;
  /** File name inside .trash/<client>/. */
  item: string;
  trashedAtMs: number;
}

/** What the index knew of an archive when it went to the trash (kept in its sidecar, so `ls` need not rescan it). */
export interface TrashedDetails extends FileDigest {
  archiveId: string;
  size: number;
  storedAt: string;
}

/** An archive waiting in the trash (Store.listTrashed). */
export interface TrashedArchive extends TrashedDetails {
  client: string;
  /** Its file name inside .trash/<client>/ (the archive's name, or that name plus ".N"). */
  item: string;
  name: string;
  /** The archive's file name when it was stored. */
  file: string;
  trashedAt: string;
  purgeAt: string;
  /** Set for an archive in the bucket's trash of an S3 storage (bucket-trashed.ts): `item` is its file there. */
  inBucket?: true;
}

/** True for the name of a trashed archive in .trash/<client>/: not a sidecar, a signed record or one of our temp files. */
export function isTrashItemName(name: string): boolean {
  return !name.startsWith(".") && !name.endsWith(SIDECAR) && !name.endsWith(SIGNED_SUFFIX);
}

/** A trashed item's sidecar: its trash time, where it came from, and its details when recorded (null when unreadable). */
export async function readTrashRecord(
  layout: StoreLayout,
  client: string,
  item: string,
): Promise<({ trashedAt: string; from?: string } & Partial<TrashedDetails>) | null> {
  try {
    const record = JSON.parse(await readFile(layout.trashPath(client, item + SIDECAR), "utf8")) as unknown;
    return typeof record === "object" && record !== null && typeof (record as { trashedAt?: unknown }).trashedAt === "string"
      ? (record as { trashedAt: string })
      : null;
  } catch {
    return null;
  }
}

/**
 * Moves `<root>/<client>/<file>` into `.trash/<client>/` (durable rename) with its signed record, then
 * records the trash time. Returns the item name. Throws fs errors; never overwrites an item in the trash.
 */
export async function moveToTrash(
  layout: StoreLayout,
  client: string,
  file: string,
  nowMs: number,
  details?: TrashedDetails,
): Promise<string> {
  const dir = layout.trashDir(client);
  const created = await mkdir(dir, { recursive: true, mode: 0o750 });
  if (created) await fsyncDir(layout.trashRoot());
  let item = file;
  for (let n = 1; await pathExists(layout.trashPath(client, item)); n++) item = `${file}.${n}`;
  await withRecordIntoTrash(layout, client, file, item, () =>
    renameDurable(layout.archivePath(client, file), layout.trashPath(client, item)),
  );
  await writeSidecar(layout, client, item, nowMs, `${client}/${file}`, details);
  return item;
}

/**
 * Lists trashed items of every client. Items without a (valid) sidecar get one dated `nowMs`. Stray
 * sidecars and signed records whose item is gone, and our own leftover temp files, are removed.
 * Nothing else is touched.
 */
export async function listTrash(layout: StoreLayout, nowMs: number, log: StoreLog): Promise<TrashItem[]> {
  const items: TrashItem[] = [];
  for (const client of await readdirOrEmpty(layout.trashRoot())) {
    try {
      checkClient(client);
    } catch {
      continue; // not a folder this store made
    }
    const names = await readdirOrEmpty(layout.trashDir(client));
    const present = new Set(names);
    for (const name of names) {
      const path = layout.trashPath(client, name);
      if (ATOMIC_TEMP.test(name)) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      const suffix = [SIDECAR, SIGNED_SUFFIX].find((s) => name.endsWith(s));
      if (suffix) {
        if (!present.has(name.slice(0, -suffix.length))) await unlink(path).catch(() => undefined);
        continue;
      }
      if (
        !isTrashItemName(name) ||
        !(await lstat(path).then(
          (st) => st.isFile(),
          () => false,
        ))
      )
        continue;
      let trashedAtMs = await readSidecar(layout, client, name);
      if (trashedAtMs === null) {
        trashedAtMs = nowMs;
        await writeSidecar(layout, client, name, nowMs, "unknown");
        log("warn", "trash.unrecorded", { client, item: name, note: "no trash time found; counting from now" });
      }
      items.push({ client, item: name, trashedAtMs });
    }
  }
  return items;
}

/**
 * Deletes every trashed item whose trash time + trashForMs ≤ nowMs (and its sidecar) but those `spare`
 * keeps; returns them. Fs errors on one item are logged and that item is kept for a later purge.
 */
export async function purgeExpired(
  layout: StoreLayout,
  trashForMs: number,
  nowMs: number,
  log: StoreLog,
  spare: (item: TrashItem) => boolean = () => false,
): Promise<TrashItem[]> {
  const purged: TrashItem[] = [];
  for (const entry of await listTrash(layout, nowMs, log)) {
    if (entry.trashedAtMs + trashForMs > nowMs || spare(entry)) continue;
    try {
      await unlink(layout.trashPath(entry.client, entry.item));
      await unlink(layout.trashPath(entry.client, entry.item + SIDECAR)).catch(() => undefined);
      await unlink(layout.trashedSignedPath(entry.client, entry.item)).catch(() => undefined);
      await fsyncDir(layout.trashDir(entry.client));
      purged.push(entry);
      log("info", "trash.purged", { client: entry.client, item: entry.item, trashedAt: new Date(entry.trashedAtMs).toISOString() });
    } catch (err) {
      log("error", "trash.purge-failed", { client: entry.client, item: entry.item, error: (err as Error).message });
    }
  }
  return purged;
}

/** Writes `item`'s sidecar atomically: trash time, origin and details. Throws fs errors. */
async function writeSidecar(
  layout: StoreLayout,
  client: string,
  item: string,
  atMs: number,
  from: string,
  details?: TrashedDetails,
): Promise<void> {
  const record = { trashedAt: new Date(atMs).toISOString(), from, ...details };
  await writeFileAtomic(layout.trashPath(client, item + SIDECAR), JSON.stringify(record) + "\n", 0o640);
}

/** The recorded trash time, or null when the sidecar is missing or unreadable. */
export async function readSidecar(layout: StoreLayout, client: string, item: string): Promise<number | null> {
  try {
    const record = JSON.parse(await readFile(layout.trashPath(client, item + SIDECAR), "utf8")) as { trashedAt?: unknown };
    const ms = typeof record.trashedAt === "string" ? Date.parse(record.trashedAt) : NaN;
    return Number.isFinite(ms) ? ms : null;
  } catch {
    return null;
  }
}
