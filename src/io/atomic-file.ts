// Durable file writes: a file appears under its final name complete and fsynced, or not at all.
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Writes `data` to `path` so that a crash leaves either the previous file or the new one, never a
 * mix: temp file in the same folder (opened exclusively), write, fsync, rename, fsync the folder.
 * Throws the underlying fs error (ENOENT when the folder does not exist, EACCES, ENOSPC...); the
 * temp file is removed on failure.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  await writeFileAtomicIf(path, data, mode, async () => true);
}

/**
 * writeFileAtomic with a last word: `beforeRename` runs on the complete, fsynced temp file just
 * before the rename (to set its owner, or to look at `path` one last time); when it returns false
 * the temp file is removed, `path` is left as it is and the result is false. Throws what
 * writeFileAtomic throws and what `beforeRename` throws.
 */
export async function writeFileAtomicIf(
  path: string,
  data: Uint8Array | string,
  mode: number,
  beforeRename: (temp: string) => Promise<boolean>,
): Promise<boolean> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", mode);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (!(await beforeRename(temp))) {
      await unlink(temp);
      return false;
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
  return true;
}

/** Fsyncs a folder so that entries created, renamed or removed in it survive a crash. Throws fs errors. */
export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Renames `from` to `to` (replacing `to` if it exists, as rename(2) does) and fsyncs both folders,
 * so the move survives a crash. Both must be on one file system. Throws fs errors.
 */
export async function renameDurable(from: string, to: string): Promise<void> {
  await rename(from, to);
  await fsyncDir(dirname(to));
  if (dirname(from) !== dirname(to)) await fsyncDir(dirname(from));
}
